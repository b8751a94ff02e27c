import re
import warnings

import pytest
from datasets import Dataset
from transformers import OPTConfig

from reft_trl.trainers.tokenization import (
    ROLLOUT_PADDING_SIDE,
    drop_long_prompts,
    fill_special_tokens,
    prepare_rollout_tokenizer,
    prepare_tokenizer,
    prompt_length,
    warn_on_split_boundary,
)
from tests.utils import with_system_prompt_template


def test_long_prompts_are_dropped_with_a_warning(tokenizer):
    dataset = Dataset.from_dict({"prompt": ["1+1=", "1+1=" * 50, "2+2="]})
    assert prompt_length(tokenizer, "1+1=") == 4
    with pytest.warns(UserWarning, match="Dropped 1 of 3"):
        kept = drop_long_prompts(dataset, tokenizer, max_prompt_length=10)
    assert kept["prompt"] == ["1+1=", "2+2="]
    assert drop_long_prompts(dataset, tokenizer, max_prompt_length=None) is dataset


def test_no_prompt_left_is_refused_with_the_lengths_seen(tokenizer):
    dataset = Dataset.from_dict({"prompt": ["1+1=" * 3, "1+1=" * 50]})  # 12 and 200 tokens
    message = (
        "every one of the 2 training prompts is longer than max_prompt_length=10 tokens (the shortest has 12, the "
        "longest 200): nothing is left to train on. Raise max_prompt_length to at least 12"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        drop_long_prompts(dataset, tokenizer, max_prompt_length=10)


def test_conversational_prompts_are_measured_through_the_chat_template(tokenizer):
    conversation = [{"role": "user", "content": "1+1="}]
    assert prompt_length(tokenizer, conversation) > prompt_length(tokenizer, "1+1=")


def test_chat_template_kwargs_reach_the_length_and_the_filter(tokenizer):
    """A trainer's `args.chat_template_kwargs` change the rendered prompt, so prompts are measured with them."""
    templated = with_system_prompt_template(tokenizer)
    conversation = [{"role": "user", "content": "1+1="}]
    brief = {"system_prompt": "Be brief."}
    short = prompt_length(templated, conversation, chat_template_kwargs=brief)
    assert short < prompt_length(templated, conversation) == prompt_length(tokenizer, conversation)

    dataset = Dataset.from_dict({"prompt": [conversation]})
    assert len(drop_long_prompts(dataset, templated, short, chat_template_kwargs=brief)) == 1
    with pytest.raises(ValueError, match="nothing is left to train on"):
        drop_long_prompts(dataset, templated, short)
    with pytest.raises(ValueError, match=re.escape(f"(the shortest has {short}, the longest {short})")):
        drop_long_prompts(dataset, templated, short - 1, chat_template_kwargs=brief)


def test_a_prompt_ending_with_the_assistants_message_is_measured_continued(tokenizer):
    """The chat P-CoT prompt ends with the program's opening, which rollouts continue: no end of turn, no new turn."""
    from reft_trl.generation import encode_prompt

    opened = [{"role": "user", "content": "1+1="}, {"role": "assistant", "content": "def solution():"}]
    closed = tokenizer.apply_chat_template(opened, tokenize=True, add_generation_prompt=True, return_dict=True)
    assert prompt_length(tokenizer, opened) == len(encode_prompt(tokenizer, opened)) < len(closed["input_ids"])


def test_galactica_style_tokenizer_gets_eos_and_pad_from_the_config(tokenizer_path):
    from transformers import AutoTokenizer

    bare = AutoTokenizer.from_pretrained(tokenizer_path)
    bare.eos_token, bare.pad_token = None, None
    fill_special_tokens(bare, OPTConfig(eos_token_id=2, pad_token_id=1))
    assert (bare.eos_token_id, bare.pad_token_id) == (2, 1)

    bare.eos_token, bare.pad_token = None, None
    with pytest.raises(ValueError, match="eos_token"):
        fill_special_tokens(bare, OPTConfig(eos_token_id=None, pad_token_id=None))


def test_pad_falls_back_to_eos(tokenizer_path):
    from transformers import AutoTokenizer

    bare = AutoTokenizer.from_pretrained(tokenizer_path)
    bare.pad_token = None
    fill_special_tokens(bare, OPTConfig(eos_token_id=2, pad_token_id=None))
    assert bare.pad_token_id == bare.eos_token_id == 2


@pytest.fixture
def model_dir(tokenizer, tmp_path):
    """A tiny model saved with the real tokenizer, whose tokenizer files lack EOS and pad (as Galactica's do)."""
    from tests.utils import tiny_opt

    model = tiny_opt(len(tokenizer))
    model.config.eos_token_id, model.config.pad_token_id = 2, 1
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    return tmp_path


def test_prepare_tokenizer_loads_the_models_tokenizer_and_fills_its_special_tokens(model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    loaded = prepare_tokenizer(None, str(model_dir), padding_side="left")
    assert loaded.padding_side == "left" and loaded.name_or_path == str(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    for given in (model, get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"]))):
        rollout = prepare_rollout_tokenizer(None, given)  # a PEFT model's base model names the tokenizer
        assert rollout.padding_side == ROLLOUT_PADDING_SIDE == "left" and rollout.name_or_path == str(model_dir)


def test_the_tokenizer_and_config_load_at_the_models_revision(model_dir, tmp_path, monkeypatch):
    import transformers

    from reft_trl import ReFTPPOConfig
    from reft_trl.trainers.tokenization import load_rollout_policy

    calls = []
    for loader in (transformers.AutoTokenizer, transformers.AutoConfig):
        real = loader.from_pretrained.__func__

        def recording(cls, *args, _real=real, **kwargs):
            calls.append((cls.__name__, kwargs.get("revision"), kwargs.get("trust_remote_code")))
            return _real(cls, *args, **kwargs)

        monkeypatch.setattr(loader, "from_pretrained", classmethod(recording))
    prepare_tokenizer(None, str(model_dir), revision="v1.0")  # the model dir's tokenizer lacks a pad token
    assert calls == [("AutoTokenizer", "v1.0", False), ("AutoConfig", "v1.0", False)]
    calls.clear()
    args = ReFTPPOConfig(
        output_dir=str(tmp_path), use_cpu=True, report_to="none", model_init_kwargs={"revision": "v1.0"}
    )
    # the config's trust_remote_code reaches the model's and the tokenizer's loaders, as GRPO's
    for trust in (False, True):
        calls.clear()
        args.trust_remote_code = trust
        load_rollout_policy(str(model_dir), None, args)  # a local folder ignores the revision
        assert ("AutoTokenizer", "v1.0", trust) in calls
        assert {flag for _, _, flag in calls} == {trust}, calls  # the model's config (TRL's loader) too
    assert args.model_init_kwargs == {"revision": "v1.0"}  # the user's kwargs are not changed


def test_prepare_tokenizer_fills_missing_tokens_from_the_model_config(model_dir, tokenizer_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for model in (str(model_dir), AutoModelForCausalLM.from_pretrained(model_dir)):
        bare = AutoTokenizer.from_pretrained(tokenizer_path)
        bare.eos_token, bare.pad_token = None, None
        assert prepare_tokenizer(bare, model) is bare
        assert (bare.eos_token_id, bare.pad_token_id) == (2, 1)
    complete = AutoTokenizer.from_pretrained(tokenizer_path)
    complete.pad_token = complete.eos_token
    assert prepare_tokenizer(complete, "no/such/model") is complete  # nothing to fill: the config is never read


def test_no_trainer_keeps_a_tokenizer_or_reward_default_of_its_own():
    """The SFT, PPO and online self-training trainers share one `prepare_tokenizer` (the rollout trainers through one
    `load_rollout_policy`) and one `default_reward_funcs`."""
    from reft_trl.trainers import default_rewards, online_self_training_trainer, ppo_trainer, sft_trainer, tokenization

    assert ppo_trainer.load_rollout_policy is online_self_training_trainer.load_rollout_policy
    assert online_self_training_trainer.load_rollout_policy is tokenization.load_rollout_policy
    assert sft_trainer.prepare_tokenizer is prepare_tokenizer
    assert (
        ppo_trainer._default_reward_funcs
        is online_self_training_trainer.default_reward_funcs
        is default_rewards.default_reward_funcs
    )


def test_a_prompt_ending_inside_a_token_of_the_sft_text_is_warned_about(tokenizer):
    from reft_trl.data import load_task

    rows = load_task("svamp", "pcot", "train", limit=4, program_prefix_in_prompt=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_on_split_boundary(rows, tokenizer) is False
        assert warn_on_split_boundary(load_task("svamp", "ncot", "train", limit=4), tokenizer) is False
    # The paper's opening, ending with the newline that SmolLM2's tokenizer merges with the body's indentation
    papers = rows.map(lambda row: {"prompt": row["prompt"] + "\n", "completion": row["completion"][1:]})
    with pytest.warns(UserWarning, match="Row svamp_0: the prompt's tokens are not the first tokens"):
        assert warn_on_split_boundary(papers, tokenizer) is True
    assert warn_on_split_boundary(rows.remove_columns("completion"), tokenizer) is False


def test_grpo_does_not_say_model_init_kwargs_are_ignored_when_they_were_applied(model_dir, tmp_path, caplog):
    """PPO loads a model path with `model_init_kwargs` and hands GRPO the loaded model: GRPO's line that the kwargs
    are ignored would be false then, and is dropped; it stays when the user passed a loaded model."""
    import logging

    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    from reft_trl import ReFTPPOConfig, ReFTPPOTrainer
    from reft_trl.trainers.tokenization import GRPO_IGNORED_KWARGS_LOG

    def said(model) -> bool:
        caplog.clear()
        args = ReFTPPOConfig(
            output_dir=str(tmp_path / "out"),
            use_cpu=True,
            bf16=False,
            report_to="none",
            per_device_train_batch_size=2,
            model_init_kwargs={"dtype": "float32"},
        )
        with caplog.at_level(logging.WARNING, logger="trl.trainer.grpo_trainer"):
            ReFTPPOTrainer(
                model=model,
                reward_funcs=lambda completions, **kwargs: [0.0] * len(completions),
                args=args,
                train_dataset=Dataset.from_dict({"prompt": ["1+1=", "2+2="]}),
            )
        return any(GRPO_IGNORED_KWARGS_LOG in record.getMessage() for record in caplog.records)

    assert not said(str(model_dir))
    assert said(AutoModelForCausalLM.from_pretrained(model_dir))
    assert not logging.getLogger("trl.trainer.grpo_trainer").filters  # the filter lives only while GRPO's set-up runs
