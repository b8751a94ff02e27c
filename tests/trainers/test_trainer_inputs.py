"""ReFTPPOTrainer refuses a model path that does not exist and a training set without rows before it builds anything."""

from __future__ import annotations

import re

import pytest
from datasets import Dataset

from reft_trl.trainers.ppo_trainer import ReFTPPOTrainer
from tests.trainers.test_ppo_trainer import SMALL_VOCAB, arithmetic_prompts, digit_share, make_args
from tests.utils import tiny_llama


def test_an_empty_training_set_is_refused(tokenizer, tmp_path):
    empty = Dataset.from_dict({"prompt": [], "answer": []})
    with pytest.raises(ValueError, match="train_dataset holds no rows: nothing to train on"):
        ReFTPPOTrainer(
            model=tiny_llama(SMALL_VOCAB), reward_funcs=digit_share, args=make_args(tmp_path),
            train_dataset=empty, processing_class=tokenizer,
        )  # fmt: skip


def test_a_model_path_that_does_not_exist_is_named(tokenizer, tmp_path):
    missing = str(tmp_path / "sft" / "checkpoint-2")
    with pytest.raises(FileNotFoundError, match=re.escape(f"model path {missing!r} does not exist")):
        ReFTPPOTrainer(
            model=missing, reward_funcs=digit_share, args=make_args(tmp_path),
            train_dataset=arithmetic_prompts(), processing_class=tokenizer,
        )  # fmt: skip
