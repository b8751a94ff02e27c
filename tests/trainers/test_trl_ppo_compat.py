"""Migrating from TRL 1.12's removed PPOTrainer: the same arguments, names and dataset shape keep working."""

from __future__ import annotations

import torch
from datasets import Dataset

from reft_trl.trainers.trl_ppo_compat import PPOConfig, PPOTrainer
from tests.trainers.test_ppo_trainer import SMALL_VOCAB, logged
from tests.utils import tiny_llama, tiny_llama_classifier


def tiny_classifier(seed: int, vocab_size: int = SMALL_VOCAB):
    return tiny_llama_classifier(vocab_size, seed=seed, num_labels=1, pad_token_id=0)


def test_trl_112_style_call_with_reward_and_value_models(tokenizer, tmp_path):
    args = PPOConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=4, max_completion_length=6, max_steps=2,
        kl_coef=0.05, cliprange=0.2, cliprange_value=0.2, vf_coef=0.1, gamma=1.0, lam=0.95, num_ppo_epochs=2,
        num_mini_batches=1, whiten_rewards=True, kl_estimator="k3", missing_eos_penalty=1.0,
        use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none", save_strategy="no", logging_steps=1,
    )  # fmt: skip
    # TRL 1.12 took tokenized prompts
    dataset = Dataset.from_dict({"input_ids": [tokenizer(f"{i}+1=")["input_ids"] for i in range(8)]})
    value_model = tiny_classifier(seed=1)
    # the reward model re-tokenizes prompt + completion text, which can use any of the tokenizer's ids
    reward_model = tiny_classifier(seed=2, vocab_size=len(tokenizer))
    trainer = PPOTrainer(
        args, tokenizer, tiny_llama(SMALL_VOCAB), None, reward_model, dataset, value_model=value_model
    )
    critic_before = value_model.score.weight.detach().clone()
    trainer.train()
    assert not torch.equal(value_model.score.weight, critic_before)  # the separate critic is trained
    assert logged(trainer, "losses/value_loss")
    assert len(logged(trainer, "objective/scores")) == 1
