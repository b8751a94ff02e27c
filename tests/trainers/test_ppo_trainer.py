"""ReFTPPOTrainer on tiny random Llama / OPT models with the real SmolLM2 tokenizer."""

from __future__ import annotations

import copy

import pytest
import torch
from datasets import Dataset

from reft_trl.trainers.ppo_config import ReFTPPOConfig
from reft_trl.trainers.ppo_trainer import ReFTPPOTrainer
from tests.utils import record_scoring, tiny_llama, tiny_opt

# SmolLM2's ids below 256 are single characters, so a 256-token model reads prompts made of digits and symbols.
SMALL_VOCAB = 256


def digit_share(completion_ids, **kwargs):
    """Share of digit tokens in the completion: dense, and learnable by a tiny model in a few dozen steps."""
    digits = set(range(32, 42))  # '0'..'9' in SmolLM2's vocabulary
    return [sum(t in digits for t in ids) / max(len(ids), 1) for ids in completion_ids]


def arithmetic_prompts(n: int = 32) -> Dataset:
    return Dataset.from_dict({"prompt": [f"{i}+{i % 7}=" for i in range(n)]})


def make_args(tmp_path, **overrides) -> ReFTPPOConfig:
    settings = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=8,
        max_completion_length=8,
        max_steps=4,
        learning_rate=1e-2,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        seed=0,
    )
    settings.update(overrides)
    return ReFTPPOConfig(**settings)


def digit_trainer(tokenizer, tmp_path, **overrides) -> ReFTPPOTrainer:
    """A tiny random Llama rewarded for digits, on 32 arithmetic prompts."""
    return ReFTPPOTrainer(
        model=tiny_llama(SMALL_VOCAB),
        reward_funcs=digit_share,
        args=make_args(tmp_path, **overrides),
        train_dataset=arithmetic_prompts(),
        processing_class=tokenizer,
    )


def logged(trainer, key):
    return [entry[key] for entry in trainer.state.log_history if key in entry]


def test_ppo_raises_the_mean_reward(tokenizer, tmp_path):
    args = make_args(
        tmp_path, per_device_train_batch_size=16, max_steps=40, learning_rate=3e-2, kl_coef=0.0, vf_coef=0.1
    )
    trainer = ReFTPPOTrainer(
        model=tiny_llama(SMALL_VOCAB),
        reward_funcs=digit_share,
        args=args,
        train_dataset=arithmetic_prompts(64),
        processing_class=tokenizer,
    )
    trainer.train()
    rewards = logged(trainer, "reward")
    assert len(rewards) == 20  # one rollout per 2 PPO epochs
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3 + 0.3, rewards


def test_training_changes_policy_and_value_head(tokenizer, tmp_path):
    trainer = digit_trainer(tokenizer, tmp_path)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    changed = {name for name, p in trainer.model.named_parameters() if not torch.equal(before[name], p)}
    assert {"v_head.weight", "v_head.bias"} <= changed
    assert changed == set(before)
    for key in ("losses/policy_loss", "losses/value_loss", "losses/clipfrac", "losses/vf_clipfrac", "objective/kl",
                "losses/explained_variance", "entropy", "completions/mean_length", "reward"):  # fmt: skip
        assert logged(trainer, key), key


def test_logs_hold_ppo_quantities_not_grpo_group_statistics(tokenizer, tmp_path):
    """One sample per question: GRPO's group std is always 0 and its advantages always 0. The completions table gets
    each completion's first-token advantage instead; the KL part of the reward is -kl_coef * KL per sequence even when
    the rewards are whitened (it was computed from the whitened rewards)."""
    trainer = digit_trainer(tokenizer, tmp_path, max_steps=2, kl_coef=0.5, whiten_rewards=True, learning_rate=1e-1)
    trainer.train()
    assert not logged(trainer, "frac_reward_zero_std")
    advantages = list(trainer._logs["advantages"])
    assert len(advantages) == 8 and any(value != 0.0 for value in advantages)
    non_score, kl = logged(trainer, "objective/non_score_reward"), logged(trainer, "objective/kl")
    assert non_score == pytest.approx([-0.5 * value for value in kl])


def test_the_critic_is_left_out_of_the_weight_sync_to_vllm(tokenizer, tmp_path):
    """TRL pushes every named parameter of the policy to vLLM, whose causal LM has no `v_head`."""
    from contextlib import nullcontext
    from types import SimpleNamespace

    from trl.generation.vllm_generation import VLLMGeneration

    from reft_trl.trainers.ppo_trainer import _sync_only_the_policy_to_vllm

    trainer = digit_trainer(tokenizer, tmp_path)
    generation = VLLMGeneration.__new__(VLLMGeneration)  # the weight walk alone, no vLLM engine
    generation.model = trainer.model
    generation._dist = SimpleNamespace(is_fsdp=False, gather_params=lambda params: nullcontext())
    everything = [name for name, _ in generation._iter_named_params()]
    assert "v_head.weight" in everything  # what TRL alone would send
    _sync_only_the_policy_to_vllm(generation)
    sent = [name for name, _ in generation._iter_named_params()]
    assert sent == [name for name in everything if not name.startswith("v_head.")]


def test_save_writes_the_critic_from_the_state_dict_it_is_given(tokenizer, tmp_path):
    """Under DeepSpeed ZeRO-3 the trainer passes the gathered state dict and the live head holds empty partitions."""
    from safetensors.torch import load_file

    trainer = digit_trainer(tokenizer, tmp_path)
    state = {name: value.clone() for name, value in trainer.model.state_dict().items()}
    state["v_head.weight"] = torch.ones_like(state["v_head.weight"])
    trainer._save(str(tmp_path / "saved"), state_dict=state)
    critic = load_file(tmp_path / "saved" / "value_head.safetensors")
    assert set(critic) == {"weight", "bias"} and torch.equal(critic["weight"], state["v_head.weight"])
    assert not [name for name in load_file(tmp_path / "saved" / "model.safetensors") if name.startswith("v_head")]


def test_explained_variance_is_logged_once_per_rollout_over_the_whole_batch(tokenizer, tmp_path):
    """CleanRL's measure: the rollout's values against its returns, over every sample of the rollout (a mini-batch of
    all-correct answers has near-constant returns, and a per-mini-batch ratio then reads as a huge negative)."""
    from reft_trl.trainers.ppo_math import explained_variance

    trainer = ReFTPPOTrainer(
        model=tiny_llama(SMALL_VOCAB),
        reward_funcs=digit_share,
        args=make_args(tmp_path, max_steps=4, num_ppo_epochs=2, num_mini_batches=2),  # one rollout, 4 updates
        train_dataset=arithmetic_prompts(),
        processing_class=tokenizer,
    )
    trainer.train()
    batch = trainer._rollout_batch
    expected = explained_variance(batch["old_values"], batch["returns"], batch["completion_mask"]).item()
    assert logged(trainer, "losses/explained_variance") == [pytest.approx(expected, rel=1e-5, abs=1e-6)]


@pytest.mark.parametrize("scoring", ["logits", "fused"])
def test_values_and_logps_come_from_one_forward(tokenizer, tmp_path, scoring):
    trainer = digit_trainer(tokenizer, tmp_path, lm_head_scoring=scoring)
    model = trainer.model
    input_ids = torch.tensor([[20, 33, 34, 27, 39, 45, 33, 35], [0, 0, 33, 27, 39, 45, 36, 2]])
    attention_mask = (input_ids != 0).long()
    logps, _, values = trainer._policy_logps_and_values(model, input_ids, attention_mask, logits_to_keep=3)

    with torch.no_grad():
        hidden = model.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = model.lm_head(hidden)
    expected_values = model.v_head(hidden)[:, -4:-1]  # V(s_t) is read before completion token t
    expected_logps = torch.log_softmax(logits[:, -4:-1], dim=-1).gather(-1, input_ids[:, -3:, None]).squeeze(-1)
    torch.testing.assert_close(values, expected_values)
    torch.testing.assert_close(logps, expected_logps, rtol=1e-4, atol=1e-5)


def test_the_rollouts_logps_and_values_come_from_one_explicit_call(tokenizer, tmp_path, monkeypatch):
    """No side channel into TRL: the rollout's log π and values are the outputs of the one call
    `_generate_and_score_completions` makes, and the policy forward TRL's rollout asks for its own old log π (two PPO
    epochs and mini-batches: a rollout feeds several optimizer steps) is skipped, not run and replaced."""
    trainer = ReFTPPOTrainer(
        model=tiny_llama(SMALL_VOCAB),
        reward_funcs=digit_share,
        args=make_args(tmp_path, num_ppo_epochs=2, num_mini_batches=2, kl_coef=0.0),  # TRL asks for old log π
        train_dataset=arithmetic_prompts(),
        processing_class=tokenizer,
    )
    asked, ran = record_scoring(monkeypatch, ReFTPPOTrainer)
    calls = []
    explicit = trainer._rollout_logps_and_values

    def recorded(*args, **kwargs):
        calls.append(explicit(*args, **kwargs))
        return calls[-1]

    trainer._rollout_logps_and_values = recorded
    batch = trainer._generate_and_score_completions(next(iter(trainer.get_train_dataloader())))
    # TRL still asks (else the skip is dead code: drop it), and its forward of the policy never runs
    assert asked == [trainer.model] and ran == []
    assert len(calls) == 1
    logps, values = calls[0]
    assert batch["old_per_token_logps"] is logps
    torch.testing.assert_close(batch["old_values"], values * batch["completion_mask"])
    assert not trainer._skip_trl_rollout_logps  # only inside TRL's rollout
    # Outside the rollout, TRL's scoring is TRL's
    ids, mask = batch["completion_ids"], batch["completion_mask"]
    logps_again, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, ids.size(1) - 1)
    assert ran == [trainer.model] and logps_again.shape == (ids.size(0), ids.size(1) - 1)


def tiny_gemma2_with_softcapping(vocab_size: int):
    """A 2-layer random Gemma 2, whose logits transformers soft-caps (`final_logit_softcapping`); the embeddings (tied
    to the head) are scaled up so that the cap bends them."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(0)
    config = Gemma2Config(
        vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=8, final_logit_softcapping=3.0, max_position_embeddings=512,
    )  # fmt: skip
    model = Gemma2ForCausalLM(config)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(30.0)
    return model


@pytest.mark.parametrize("architecture", [tiny_llama, tiny_opt, tiny_gemma2_with_softcapping])
def test_both_lm_head_scorings_give_the_same_logps_entropies_and_gradients(tokenizer, tmp_path, architecture):
    """The "logits" scoring (completion positions only) and the "fused" one (TRL's chunked head) agree, values
    included (OPT's forward bypasses the backbone module the critic's hook is on: it reads the LM head's input)."""
    model = architecture(SMALL_VOCAB)
    input_ids = torch.tensor([[20, 33, 34, 27, 39, 45, 33, 35], [0, 0, 33, 27, 39, 45, 36, 0]])
    attention_mask = torch.tensor([[1] * 8, [0, 0, 1, 1, 1, 1, 1, 0]])  # left-padded prompt, padded completion
    results = {}
    for scoring in ("logits", "fused"):
        trainer = ReFTPPOTrainer(
            model=copy.deepcopy(model),
            reward_funcs=digit_share,
            args=make_args(tmp_path / scoring, lm_head_scoring=scoring, temperature=0.7, entropy_coef=0.01),
            train_dataset=arithmetic_prompts(),
            processing_class=tokenizer,
        )
        torch.manual_seed(1)
        torch.nn.init.normal_(trainer.model.v_head.weight)  # a critic that reads its input (it starts at 0)
        logps, entropies, values = trainer._policy_logps_and_values(
            trainer.model, input_ids, attention_mask, logits_to_keep=3, compute_entropy=True
        )
        (logps.sum() + entropies.sum() + values.sum()).backward()
        head = trainer.model.get_output_embeddings().weight.grad
        results[scoring] = logps, entropies, values, head, trainer.model.get_input_embeddings().weight.grad
    assert results["logits"][2].shape == (2, 3) and results["logits"][2].abs().min() > 0
    assert results["logits"][0][1, 2] == 0.0 and results["logits"][1][1, 2] == 0.0  # the padded completion token
    for logits_result, fused_result in zip(results["logits"], results["fused"], strict=True):
        torch.testing.assert_close(logits_result, fused_result, rtol=1e-4, atol=1e-5)


def test_lm_head_scoring_defaults_to_the_completion_logits_on_a_cpu(tmp_path):
    from reft_trl.trainers.ppo_config import uses_fused_lm_head

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert make_args(tmp_path).lm_head_scoring == "auto"  # resolved by the trainer, for its device
    assert not uses_fused_lm_head(make_args(tmp_path), cpu) and uses_fused_lm_head(make_args(tmp_path), cuda)
    assert uses_fused_lm_head(make_args(tmp_path, cast_lm_head_to_fp32=True), cpu)
    assert uses_fused_lm_head(make_args(tmp_path, lm_head_scoring="fused"), cpu)
    assert not uses_fused_lm_head(make_args(tmp_path, lm_head_scoring="logits"), cuda)
    with pytest.raises(ValueError, match="cast_lm_head_to_fp32 needs the fused LM head"):
        make_args(tmp_path, lm_head_scoring="logits", cast_lm_head_to_fp32=True)
    with pytest.raises(ValueError, match="lm_head_scoring='chunked'"):
        make_args(tmp_path, lm_head_scoring="chunked")


@pytest.mark.parametrize("scoring", ["logits", "fused"])
def test_reference_is_the_frozen_warmup_model(tokenizer, tmp_path, scoring):
    model = tiny_llama(SMALL_VOCAB)
    warmup = copy.deepcopy(model)
    trainer = ReFTPPOTrainer(
        model=model,
        reward_funcs=digit_share,
        args=make_args(tmp_path, kl_coef=0.05, lm_head_scoring=scoring),
        train_dataset=arithmetic_prompts(),
        processing_class=tokenizer,
    )
    trainer.train()
    kls = logged(trainer, "objective/kl")
    assert kls[0] == 0.0  # policy == reference at the first rollout, scored the same way
    assert kls[-1] != 0.0
    for (name, p_ref), (_, p_warmup) in zip(trainer.ref_model.named_parameters(), warmup.named_parameters()):
        assert torch.equal(p_ref, p_warmup), name


def test_opt_architecture_trains(tokenizer, tmp_path):
    """Galactica is OPT: its backbone ends in a projection, and the value head reads that projected state."""
    trainer = ReFTPPOTrainer(
        model=tiny_opt(SMALL_VOCAB),
        reward_funcs=digit_share,
        args=make_args(tmp_path, max_steps=2),
        train_dataset=arithmetic_prompts(),
        processing_class=tokenizer,
    )
    trainer.train()
    assert logged(trainer, "losses/value_loss")


def test_config_accepts_one_generation_and_rejects_loss_kl(tmp_path):
    args = make_args(tmp_path, num_generations=1, per_device_train_batch_size=1)
    assert args.num_generations == 1 and args.generation_batch_size == 1
    with pytest.raises(ValueError, match="kl_coef"):
        make_args(tmp_path, beta=0.1)
    with pytest.raises(ValueError, match="k1, k3"):
        make_args(tmp_path, kl_estimator="k9")


def test_config_maps_ppo_names_onto_grpo(tmp_path):
    args = make_args(tmp_path, num_ppo_epochs=3, num_mini_batches=2, cliprange=0.3, gradient_accumulation_steps=2)
    assert args.num_iterations == 3
    assert args.steps_per_generation == 4  # gradient_accumulation_steps * num_mini_batches
    assert args.generation_batch_size == 32
    assert args.epsilon == 0.3


def test_missing_eos_penalty_lowers_the_score(tokenizer, tmp_path):
    # completions of 8 random tokens never end in EOS, so each loses the penalty from its score
    trainer = ReFTPPOTrainer(
        model=tiny_llama(SMALL_VOCAB),
        reward_funcs=lambda completions, **kw: [1.0] * len(completions),
        args=make_args(tmp_path, max_steps=2, missing_eos_penalty=0.25),
        train_dataset=arithmetic_prompts(),
        processing_class=tokenizer,
    )
    trainer.train()
    assert logged(trainer, "objective/scores")[0] == pytest.approx(0.75)


def test_resume_continues_from_the_same_state(tokenizer, tmp_path):
    def run(output_dir, max_steps, resume=None):
        trainer = ReFTPPOTrainer(
            model=tiny_llama(SMALL_VOCAB),
            reward_funcs=digit_share,
            args=make_args(
                tmp_path, output_dir=str(output_dir), max_steps=max_steps, save_strategy="steps", save_steps=2
            ),  # fmt: skip
            train_dataset=arithmetic_prompts(),
            processing_class=tokenizer,
        )
        trainer.train(resume_from_checkpoint=resume)
        return trainer

    straight = run(tmp_path / "straight", 4)
    run(tmp_path / "stopped", 2)
    checkpoint = tmp_path / "stopped" / "checkpoint-2"
    assert (checkpoint / "value_head.safetensors").is_file()
    resumed = run(tmp_path / "stopped", 4, resume=str(checkpoint))

    assert resumed.state.global_step == 4
    assert logged(resumed, "reward")[-1] == pytest.approx(logged(straight, "reward")[-1])
    for (name, p_straight), (_, p_resumed) in zip(straight.model.named_parameters(), resumed.model.named_parameters()):
        torch.testing.assert_close(p_resumed, p_straight, msg=name)
