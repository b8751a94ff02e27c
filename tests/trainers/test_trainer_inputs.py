"""The trainers refuse a model path that does not exist, a training set without rows and (PPO, online self-training)
prompts all longer than `max_prompt_length` (measured with the config's `chat_template_kwargs`) before they build
anything."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from datasets import Dataset

from reft_trl.trainers.online_self_training_trainer import OnlineSelfTrainingTrainer
from reft_trl.trainers.ppo_trainer import ReFTPPOTrainer
from reft_trl.trainers.sft_trainer import ReFTSFTTrainer
from reft_trl.trainers.tokenization import prompt_length
from tests.trainers import test_online_self_training as online_st
from tests.trainers import test_sft_trainer as sft
from tests.trainers.test_ppo_trainer import SMALL_VOCAB, arithmetic_prompts, digit_share, make_args
from tests.utils import tiny_llama, with_system_prompt_template

NO_ROWS = "train_dataset holds no rows: nothing to train on"


def test_an_empty_training_set_is_refused(tokenizer, tmp_path):
    empty = Dataset.from_dict({"prompt": [], "answer": []})
    with pytest.raises(ValueError, match=NO_ROWS):
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


def test_every_prompt_longer_than_max_prompt_length_is_refused(tokenizer, tmp_path):
    long_prompts = Dataset.from_dict({"prompt": ["1+1=" * 20, "2+2=" * 30]})  # 80 and 120 tokens
    message = re.escape("max_prompt_length=16 tokens (the shortest has 80, the longest 120)")
    with pytest.raises(ValueError, match=message):
        ReFTPPOTrainer(
            model=tiny_llama(SMALL_VOCAB), reward_funcs=digit_share, args=make_args(tmp_path, max_prompt_length=16),
            train_dataset=long_prompts, processing_class=tokenizer,
        )  # fmt: skip


def test_ppo_measures_prompts_with_the_configs_chat_template_kwargs(tokenizer, tmp_path):
    templated = with_system_prompt_template(tokenizer)
    conversation = [{"role": "user", "content": "1+1="}]
    brief = {"system_prompt": "Be brief."}
    short = prompt_length(templated, conversation, chat_template_kwargs=brief)
    assert short < prompt_length(templated, conversation)
    message = re.escape(f"max_prompt_length={short - 1} tokens (the shortest has {short}, the longest {short})")
    with pytest.raises(ValueError, match=message):
        ReFTPPOTrainer(
            model=tiny_llama(SMALL_VOCAB), reward_funcs=digit_share,
            args=make_args(tmp_path, max_prompt_length=short - 1, chat_template_kwargs=brief),
            train_dataset=Dataset.from_dict({"prompt": [conversation]}), processing_class=templated,
        )  # fmt: skip


def test_sft_refuses_an_empty_training_set(tokenizer, tmp_path):
    empty = Dataset.from_dict({"prompt": [], "completion": []})
    with pytest.raises(ValueError, match=NO_ROWS):
        ReFTSFTTrainer(
            model=tiny_llama(SMALL_VOCAB), args=sft._args(tmp_path), train_dataset=empty, processing_class=tokenizer
        )


def test_sft_names_a_model_path_that_does_not_exist(tokenizer, tmp_path):
    missing = str(tmp_path / "base" / "model")
    with pytest.raises(FileNotFoundError, match=re.escape(f"model path {missing!r} does not exist")):
        ReFTSFTTrainer(
            model=missing, args=sft._args(tmp_path), train_dataset=Dataset.from_dict(sft._rows(2)),
            processing_class=tokenizer,
        )  # fmt: skip


def test_online_self_training_refuses_an_empty_training_set(tokenizer, tmp_path):
    empty = Dataset.from_dict({"prompt": [], "completion": [], "keep": []})
    with pytest.raises(ValueError, match=NO_ROWS):
        OnlineSelfTrainingTrainer(
            model=tiny_llama(SMALL_VOCAB), reward_funcs=online_st.reward_from_column,
            args=online_st.make_args(tmp_path), train_dataset=empty, processing_class=tokenizer,
        )  # fmt: skip


def test_online_self_training_names_a_model_path_that_does_not_exist(tokenizer, tmp_path):
    missing = str(tmp_path / "sft" / "checkpoint-2")
    with pytest.raises(FileNotFoundError, match=re.escape(f"model path {missing!r} does not exist")):
        OnlineSelfTrainingTrainer(
            model=missing, reward_funcs=online_st.reward_from_column, args=online_st.make_args(tmp_path),
            train_dataset=online_st.rows(), processing_class=tokenizer,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("trainer", "expected"),
    [
        (ReFTPPOTrainer, "args must be a ReFTPPOConfig, got SimpleNamespace."),
        (OnlineSelfTrainingTrainer, "args must be an OnlineSelfTrainingConfig, got SimpleNamespace."),
        (ReFTSFTTrainer, "args must be a ReFTSFTConfig, got SimpleNamespace."),
    ],
)
def test_a_config_of_another_stage_is_refused_by_name(tokenizer, trainer, expected):
    rows = Dataset.from_dict({"prompt": ["1+1="], "completion": ["2"], "answer": ["2"]})
    with pytest.raises(TypeError, match=re.escape(expected)):
        trainer(model=tiny_llama(SMALL_VOCAB), args=SimpleNamespace(), train_dataset=rows, processing_class=tokenizer)
