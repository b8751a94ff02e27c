"""The upgrade checklist: every TRL method reft-trl overrides still exists with the parameters it was written for, and
GRPOConfig's __post_init__ is the one `grpo_post_init_one_generation_allowed` was checked against."""

from __future__ import annotations

import hashlib
import inspect

import pytest
import trl

from reft_trl.trainers.trl_overrides import (
    GRPO_CONFIG_POST_INIT_SHA256,
    SAVE_CHECKPOINT_SHA256,
    TOKENIZE_PROMPTS_SHA256,
    TRL_OVERRIDES,
)


@pytest.mark.parametrize(("class_name", "method", "parameters", "where"), TRL_OVERRIDES, ids=lambda v: str(v)[:40])
def test_overridden_trl_method_keeps_its_signature(class_name, method, parameters, where):
    cls = getattr(trl, class_name)
    assert hasattr(cls, method), f"TRL's {class_name} no longer has {method}: revisit {where}."
    actual = tuple(inspect.signature(getattr(cls, method)).parameters)
    assert actual == parameters, f"TRL's {class_name}.{method} changed its parameters: revisit {where}."


def test_the_vllm_sync_walk_the_ppo_trainer_filters_is_still_what_sync_weights_sends():
    import importlib

    from reft_trl.trainers.trl_overrides import VLLM_SYNC_WALK

    module, class_name, method, parameters = VLLM_SYNC_WALK
    cls = getattr(importlib.import_module(module), class_name)
    assert tuple(inspect.signature(getattr(cls, method)).parameters) == parameters
    assert f"self.{method}()" in inspect.getsource(cls.sync_weights)  # the sync reads the walk the trainer wraps


def test_the_overrides_exist_where_the_list_says():
    from reft_trl import ReFTPPOTrainer
    from reft_trl.trainers.online_self_training_trainer import OnlineSelfTrainingTrainer
    from reft_trl.trainers.sft_trainer import ReFTSFTTrainer

    listed = {method for _, method, _, _ in TRL_OVERRIDES}
    ours = {
        name
        for cls, trl_cls in ((ReFTPPOTrainer, trl.GRPOTrainer), (OnlineSelfTrainingTrainer, trl.GRPOTrainer),
                             (ReFTSFTTrainer, trl.SFTTrainer))
        for klass in cls.__mro__
        if klass.__module__.startswith("reft_trl")
        for name in vars(klass)
        if callable(vars(klass)[name]) and hasattr(trl_cls, name) and not name.startswith("__")
    }  # fmt: skip
    assert ours == listed, f"overrides not listed: {ours - listed}; listed but not overridden: {listed - ours}"


def test_grpo_config_post_init_is_the_checked_one():
    source = inspect.getsource(trl.GRPOConfig.__post_init__)
    digest = hashlib.sha256(source.encode()).hexdigest()
    assert digest == GRPO_CONFIG_POST_INIT_SHA256, (
        "trl.GRPOConfig.__post_init__ changed: re-read it, check reft_trl/trainers/one_generation.py still lets one "
        "generation per question through and every other check run, then record the new digest in trl_overrides.py."
    )


def test_grpo_tokenize_prompts_is_the_checked_one():
    source = inspect.getsource(trl.GRPOTrainer._tokenize_prompts)
    assert hashlib.sha256(source.encode()).hexdigest() == TOKENIZE_PROMPTS_SHA256, (
        "trl.GRPOTrainer._tokenize_prompts changed: re-read it, check reft_trl/trainers/continued_prompts.py still "
        "returns what its text path returns and hands every other batch to it, then record the new digest in "
        "trl_overrides.py."
    )


@pytest.mark.parametrize("qualified_name", sorted(SAVE_CHECKPOINT_SHA256))
def test_the_staged_save_checkpoint_methods_are_the_checked_ones(qualified_name):
    import transformers

    owner, method = qualified_name.rsplit(".", 1)
    module, class_name = owner.split(".")
    source = inspect.getsource(
        getattr(getattr({"transformers": transformers, "trl": trl}[module], class_name), method)
    )
    assert hashlib.sha256(source.encode()).hexdigest() == SAVE_CHECKPOINT_SHA256[qualified_name], (
        f"{qualified_name} changed: re-read it, check reft_trl/trainers/atomic_checkpoints.py still stages every file "
        "it writes (all under _get_output_dir), records the best checkpoint, rotates and pushes as it does, then "
        "record the new digest in trl_overrides.py."
    )


def test_one_generation_runs_every_other_grpo_check(tmp_path):
    from reft_trl import ReFTPPOConfig

    common = dict(output_dir=str(tmp_path), use_cpu=True, report_to="none", per_device_train_batch_size=3)
    with pytest.warns(FutureWarning, match="vllm_importance_sampling_cap"):
        config = ReFTPPOConfig(**common, vllm_importance_sampling_cap=3.0)
    assert config.num_generations == 1 and type(config.num_generations) is int
    assert config.vllm_importance_sampling_clip_max == 3.0  # TRL's mapping ran
    with pytest.raises(ValueError, match="_truncate"):
        ReFTPPOConfig(
            **common,
            vllm_importance_sampling_mode="token_truncate",
            vllm_importance_sampling_clip_min=None,
            vllm_importance_sampling_clip_max=None,
        )
    with pytest.raises(ValueError, match="auto_find_batch_size"):
        ReFTPPOConfig(**common, auto_find_batch_size=True)
    assert ReFTPPOConfig(**common, num_mini_batches=3).generation_batch_size == 9  # an odd batch holds groups of one


def test_cliprange_and_a_different_epsilon_are_refused(tmp_path):
    from reft_trl import ReFTPPOConfig

    with pytest.raises(ValueError, match="cliprange"):
        ReFTPPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", cliprange=0.1, epsilon=0.3)
    assert ReFTPPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", cliprange=0.1).epsilon == 0.1
