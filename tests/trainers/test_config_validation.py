"""Bad numeric settings are refused when the config is built, with the field and its value in the message."""

from __future__ import annotations

import doctest
import math
import re

import pytest

from reft_trl import OnlineSelfTrainingConfig, ReFTPPOConfig, ReFTSFTConfig
from reft_trl.trainers.config_checks import check_field

NAN, INF = math.nan, math.inf
COMMON = dict(use_cpu=True, report_to="none")


def refused(config_cls, tmp_path, field, value, expected):
    with pytest.raises(ValueError, match=re.escape(f"{field}={value!r}: set {field} to {expected}")):
        config_cls(output_dir=str(tmp_path), **COMMON, **{field: value})


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("kl_coef", NAN, "a finite number >= 0"),
        ("kl_coef", -0.05, "a finite number >= 0"),
        ("cliprange", -0.2, "a finite number > 0"),
        ("cliprange", 0.0, "a finite number > 0"),
        ("cliprange_value", 0.0, "a finite number > 0"),
        ("vf_coef", INF, "a finite number >= 0"),
        ("vf_coef", -1.0, "a finite number >= 0"),
        ("gamma", 1.5, "a finite number in [0, 1]"),
        ("gamma", NAN, "a finite number in [0, 1]"),
        ("lam", -0.1, "a finite number in [0, 1]"),
        ("num_generations", 0, "a whole number >= 1"),
        ("learning_rate", NAN, "a finite number >= 0"),
        ("learning_rate", -3e-7, "a finite number >= 0"),
        ("missing_eos_penalty", NAN, "a finite number (or None)"),
        ("temperature", 0.0, "a finite number > 0"),
        ("num_ppo_epochs", 0, "a whole number >= 1"),
        ("max_completion_length", 0, "a whole number >= 1 (or None)"),
        ("max_prompt_length", 0, "a whole number >= 1 (or None)"),
        ("critic_lam", 1.5, "a finite number in [0, 1] (or None)"),
        ("critic_learning_rate", NAN, "a finite number >= 0 (or None)"),
    ],
)
def test_ppo_config_refuses(tmp_path, field, value, expected):
    refused(ReFTPPOConfig, tmp_path, field, value, expected)


def test_ppo_config_accepts_the_edges(tmp_path):
    config = ReFTPPOConfig(
        output_dir=str(tmp_path), kl_coef=0.0, gamma=1.0, lam=0.0, missing_eos_penalty=-1.0, **COMMON
    )
    assert (config.kl_coef, config.gamma, config.lam, config.missing_eos_penalty) == (0.0, 1.0, 0.0, -1.0)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("learning_rate", NAN, "a finite number >= 0"),
        ("learning_rate", -1e-5, "a finite number >= 0"),
        ("num_train_epochs", -1.0, "a finite number > 0"),
        ("num_train_epochs", INF, "a finite number > 0"),
        ("max_grad_norm", NAN, "a finite number >= 0"),
        ("per_device_train_batch_size", 0, "a whole number >= 1"),
        ("gradient_accumulation_steps", 0, "a whole number >= 1"),
        ("max_length", 0, "a whole number >= 1 (or None)"),
    ],
)
def test_sft_config_refuses(tmp_path, field, value, expected):
    with pytest.raises(ValueError, match=re.escape(f"{field}={value!r}: set {field} to {expected}")):
        ReFTSFTConfig(output_dir=str(tmp_path), stop_after_epoch=None, **COMMON, **{field: value})


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("keep_reward", NAN, "a finite number"),
        ("sampled_loss_weight", NAN, "a finite number >= 0"),
        ("gold_loss_weight", -0.5, "a finite number >= 0"),
        ("learning_rate", NAN, "a finite number >= 0"),
        ("num_generations", 0, "a whole number >= 1"),
        ("num_iterations", 0, "a whole number >= 1"),
        ("max_prompt_length", 0, "a whole number >= 1 (or None)"),
        ("max_gold_input_length", 0, "a whole number >= 1 (or None)"),
    ],
)
def test_online_self_training_config_refuses(tmp_path, field, value, expected):
    refused(OnlineSelfTrainingConfig, tmp_path, field, value, expected)


def test_check_field_refuses_booleans_and_text():
    class Config:
        num_generations = True
        learning_rate = "3e-7"

    with pytest.raises(ValueError, match=r"num_generations=True: set num_generations to a whole number >= 1"):
        check_field(Config, "num_generations", minimum=1, integer=True)
    with pytest.raises(ValueError, match=r"learning_rate='3e-7': set learning_rate to a finite number >= 0"):
        check_field(Config, "learning_rate", minimum=0)


def test_doctests_pass():
    from reft_trl.trainers import config_checks

    results = doctest.testmod(config_checks)
    assert results.attempted > 0 and results.failed == 0
