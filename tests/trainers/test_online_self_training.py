"""OnlineSelfTrainingConfig / OnlineSelfTrainingTrainer on tiny random Llama models with the real SmolLM2 tokenizer."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset

from reft_trl.trainers.online_self_training_config import OnlineSelfTrainingConfig
from reft_trl.trainers.online_self_training_trainer import OnlineSelfTrainingTrainer
from tests.utils import docstring_mismatches, tiny_llama

SMALL_VOCAB = 256  # SmolLM2's ids below 256 are single characters


def make_args(tmp_path, **overrides) -> OnlineSelfTrainingConfig:
    settings = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        max_completion_length=6,
        max_steps=2,
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
    return OnlineSelfTrainingConfig(**settings)


def rows(n: int = 8) -> Dataset:
    return Dataset.from_dict(
        {
            "prompt": [f"{i}+1=" for i in range(n)],
            "completion": [str(i + 1) for i in range(n)],
            "keep": [i % 2 for i in range(n)],
        }
    )


def reward_from_column(completions, keep, **kwargs):
    """1.0 for rows marked `keep`, else the 0.1 partial reward (not kept: only reward exactly 1 is)."""
    return [1.0 if flag else 0.1 for flag in keep]


def logged(trainer, key):
    return [entry[key] for entry in trainer.state.log_history if key in entry]


# ---------------------------------------------------------------------------------------------------------------------
# Config


def test_config_documents_its_fields():
    assert docstring_mismatches(OnlineSelfTrainingConfig) == []


def test_config_defaults_are_the_authors(tmp_path):
    args = make_args(tmp_path)
    assert (args.num_generations, args.num_iterations, args.beta) == (1, 2, 0.0)
    assert (args.sampled_loss_weight, args.gold_loss_weight, args.keep_reward) == (0.5, 0.5, 1.0)
    defaults = OnlineSelfTrainingConfig(output_dir=str(tmp_path), use_cpu=True)
    assert (defaults.learning_rate, defaults.lr_scheduler_type) == (3e-7, "constant")
    assert (defaults.max_completion_length, defaults.max_prompt_length) == (400, 300)
    assert defaults.max_gold_input_length == 300  # the authors' max_input_length for the supervised examples


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(beta=0.1), "no KL term"),
        (dict(sampled_loss_weight=-1.0), r"sampled_loss_weight=-1.0: set sampled_loss_weight to a finite number >= 0"),
        (dict(sampled_loss_weight=0.0, gold_loss_weight=0.0), "both 0"),
        (dict(max_gold_input_length=0), "max_gold_input_length"),
    ],
)
def test_config_refuses_bad_settings(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        make_args(tmp_path, **overrides)


@pytest.mark.parametrize(
    "option",
    [
        {"loss_type": "grpo"},
        {"epsilon": 0.1},
        {"epsilon_high": 0.28},
        {"delta": 2.0},
        {"importance_sampling_level": "sequence"},
        {"off_policy_mask_threshold": 0.5},
        {"scale_rewards": "batch"},
        {"multi_objective_aggregation": "normalize_then_sum"},
        {"top_entropy_quantile": 0.2},
        {"entropy_coef": 0.01},
        {"use_adaptive_entropy": True},
        {"use_liger_kernel": True},
        {"router_aux_loss_coef": 0.01},
    ],
)
def test_grpo_options_the_loss_ignores_are_refused(tmp_path, option):
    name = next(iter(option))
    with pytest.raises(ValueError, match=rf"OnlineSelfTrainingConfig does not use these GRPOConfig options: {name}="):
        make_args(tmp_path, **option)
    make_args(tmp_path, scale_rewards=True, router_aux_loss_coef=0.0)  # TRL's "group"; the aux loss off


# ---------------------------------------------------------------------------------------------------------------------
# Dataset checks


def test_a_dataset_without_gold_chains_of_thought_is_refused(tokenizer, tmp_path):
    with pytest.raises(ValueError, match="no 'completion' column"):
        OnlineSelfTrainingTrainer(
            model=tiny_llama(SMALL_VOCAB), reward_funcs=reward_from_column, args=make_args(tmp_path),
            train_dataset=rows().remove_columns("completion"), processing_class=tokenizer,
        )  # fmt: skip


def test_an_empty_gold_chain_of_thought_names_its_row(tokenizer, tmp_path):
    data = rows().map(lambda row, index: {"completion": "" if index == 3 else row["completion"]}, with_indices=True)
    with pytest.raises(ValueError, match="row 3: empty"):
        OnlineSelfTrainingTrainer(
            model=tiny_llama(SMALL_VOCAB), reward_funcs=reward_from_column, args=make_args(tmp_path),
            train_dataset=data, processing_class=tokenizer,
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------------
# Rollout and loss


def make_trainer(tokenizer, tmp_path, **overrides):
    return OnlineSelfTrainingTrainer(
        model=tiny_llama(SMALL_VOCAB),
        reward_funcs=reward_from_column,
        args=make_args(tmp_path, **overrides),
        train_dataset=rows(),
        processing_class=tokenizer,
    )


def test_rollout_keeps_reward_one_and_tokenizes_the_gold(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path)
    inputs = [rows()[i] for i in range(4)]
    trainer.model.eval()
    batch = trainer._generate_and_score_completions(inputs)
    assert batch["keep"].tolist() == [0.0, 1.0, 0.0, 1.0]
    for row, ids, mask in zip(inputs, batch["gold_completion_ids"], batch["gold_completion_mask"], strict=True):
        expected = tokenizer(row["completion"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        assert ids[mask.bool()].tolist() == expected
    assert trainer._metrics["eval"]["self_training/kept_fraction"] == [0.5]


def test_gold_is_cut_where_prompt_and_gold_reach_max_gold_input_length(tokenizer, tmp_path):
    """As the authors' `train_rl_sl.py`: prompt + gold + EOS keep their first `max_input_length` tokens."""
    gold = ["1 2 3 4 5 6 7 8 9"] * 3
    full = tokenizer(gold[0], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    cut = make_trainer(tokenizer, tmp_path, max_gold_input_length=10, max_completion_length=6)
    ids, mask = cut._tokenize_gold(gold, [4, 8, 12], "cpu")
    assert mask.sum(dim=1).tolist() == [6, 2, 0]  # the completion budget, then 10 - 8, then nothing left
    assert ids[1, :2].tolist() == full[:2]
    uncut = make_trainer(tokenizer, tmp_path, max_gold_input_length=None, max_completion_length=6)
    assert uncut._tokenize_gold(gold, [4, 8, 12], "cpu")[1].sum(dim=1).tolist() == [6, 6, 6]


def test_sampling_runs_in_eval_mode_and_the_update_in_train_mode(tokenizer, tmp_path, monkeypatch):
    """As the authors' rollouts (`model.eval()`): with `disable_dropout=False` a model samples without dropout."""
    from trl import GRPOTrainer

    trainer = make_trainer(tokenizer, tmp_path, disable_dropout=False)
    seen = []
    monkeypatch.setattr(GRPOTrainer, "_generate_single_turn", lambda self, *a, **k: seen.append(self.model.training))
    trainer.model.train()
    trainer._generate_single_turn([[1, 2]], None, None, 1)
    assert seen == [False] and trainer.model.training


def test_loss_is_half_ce_of_kept_samples_plus_half_ce_of_gold(tokenizer, tmp_path):
    """The loss equals the cross-entropy computed by hand from the model's logits."""
    trainer = make_trainer(tokenizer, tmp_path, sampled_loss_weight=0.3, gold_loss_weight=0.7)
    model = trainer.model
    pad = tokenizer.pad_token_id
    prompt_ids = torch.tensor([[pad, 40, 41], [42, 43, 44], [pad, pad, 45]])
    prompt_mask = (prompt_ids != pad).long()
    completion_ids = torch.tensor([[50, 51, pad], [52, 53, 54], [55, pad, pad]])
    completion_mask = (completion_ids != pad).long()
    gold_ids = torch.tensor([[60, 61, 62, 2], [63, 2, pad, pad], [64, 65, 2, pad]])
    gold_mask = (gold_ids != pad).long()
    keep = torch.tensor([1.0, 0.0, 1.0])
    inputs = dict(
        prompt_ids=prompt_ids, prompt_mask=prompt_mask, completion_ids=completion_ids, completion_mask=completion_mask,
        keep=keep, gold_completion_ids=gold_ids, gold_completion_mask=gold_mask,
    )  # fmt: skip
    model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop
    loss = trainer._compute_loss(model, inputs)

    def token_mean_ce(prompts, prompt_masks, completions, completion_masks):
        total, count = 0.0, 0
        for p, pm, c, cm in zip(prompts, prompt_masks, completions, completion_masks, strict=True):
            ids = torch.cat([p[pm.bool()], c[cm.bool()]]).unsqueeze(0)
            with torch.no_grad():
                logits = model(input_ids=ids).logits[0].float()
            start = int(pm.sum())
            logps = torch.log_softmax(logits[start - 1 : -1], dim=-1)
            total += -logps.gather(1, ids[0, start:].unsqueeze(1)).sum().item()
            count += int(cm.sum())
        return total / count

    kept = keep.bool()
    sampled_ce = token_mean_ce(prompt_ids[kept], prompt_mask[kept], completion_ids[kept], completion_mask[kept])
    gold_ce = token_mean_ce(prompt_ids, prompt_mask, gold_ids, gold_mask)
    assert loss.item() == pytest.approx(0.3 * sampled_ce + 0.7 * gold_ce, rel=1e-4)

    # No sample kept: only the gold term
    loss_without = trainer._compute_loss(model, dict(inputs, keep=torch.zeros(3)))
    assert loss_without.item() == pytest.approx(0.7 * gold_ce, rel=1e-4)


def test_training_lowers_the_gold_cross_entropy(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path, max_steps=24, learning_rate=3e-2)
    trainer.train()
    gold_ce = logged(trainer, "losses/gold_ce")
    assert len(gold_ce) == 24
    assert sum(gold_ce[-4:]) / 4 < 0.6 * sum(gold_ce[:4]) / 4
    assert logged(trainer, "self_training/kept_fraction")[0] == pytest.approx(0.5)
    assert all(value > 0 for value in logged(trainer, "losses/sampled_ce"))  # half of each batch is kept


def test_saved_policy_loads_as_a_causal_lm(tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    trainer = make_trainer(tokenizer, tmp_path, max_steps=1)
    trainer.train()
    trainer.save_model(str(tmp_path / "saved"))
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "saved")
    for (name, param), (_, saved) in zip(trainer.model.named_parameters(), reloaded.named_parameters(), strict=True):
        assert torch.equal(param.detach(), saved), name
