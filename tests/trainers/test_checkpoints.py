"""Checkpoints are whole or refused: an interrupted save is skipped on resume with a warning (by
`train(resume_from_checkpoint=True)` too), a missing or cut critic file and a damaged weights file are named, a full
disk is said as such."""

from __future__ import annotations

import errno
import json
import re
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from reft_trl.trainers import checkpoints
from reft_trl.trainers.checkpoints import (
    CheckpointError,
    DiskFullError,
    disk_full_explained,
    last_complete_checkpoint,
    resolve_resume_from_checkpoint,
)
from reft_trl.trainers.ppo_trainer import ReFTPPOTrainer
from tests.trainers.test_ppo_trainer import SMALL_VOCAB, arithmetic_prompts, digit_share, make_args
from tests.utils import tiny_llama

TORCH_FULL_DISK = "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"


def ppo_trainer(tokenizer, output_dir, max_steps):
    args = make_args(output_dir, output_dir=str(output_dir), max_steps=max_steps, save_strategy="steps", save_steps=2)
    return ReFTPPOTrainer(
        model=tiny_llama(SMALL_VOCAB),
        reward_funcs=digit_share,
        args=args,
        train_dataset=arithmetic_prompts(),
        processing_class=tokenizer,
    )


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory, tokenizer) -> Path:
    """An output folder holding the complete `checkpoint-2` of a 2-step PPO run."""
    output_dir = tmp_path_factory.mktemp("ppo") / "run"
    ppo_trainer(tokenizer, output_dir, max_steps=2).train()
    return output_dir


@pytest.fixture
def run_copy(saved_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(saved_run, copy)
    return copy


def interrupted_save(output_dir: Path, step: int) -> Path:
    """What a run killed while writing `checkpoint-{step}` leaves: the config and a cut weights file."""
    complete = output_dir / "checkpoint-2"
    partial = output_dir / f"checkpoint-{step}"
    partial.mkdir()
    shutil.copy(complete / "config.json", partial)
    weights = (complete / "model.safetensors").read_bytes()
    (partial / "model.safetensors").write_bytes(weights[: len(weights) // 3])
    return partial


def cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# ---------------------------------------------------------------------------------------------------------------------
# Resuming ReFTPPOTrainer


def test_a_checkpoint_without_the_critic_is_refused(run_copy, tokenizer):
    checkpoint = run_copy / "checkpoint-2"
    (checkpoint / "value_head.safetensors").unlink()
    with pytest.raises(
        CheckpointError, match=re.escape(f"checkpoint {checkpoint} is incomplete (missing value_head.safetensors)")
    ):
        ppo_trainer(tokenizer, run_copy, max_steps=4).train(resume_from_checkpoint=str(checkpoint))


def test_a_cut_value_head_names_the_file(run_copy, tokenizer):
    checkpoint = run_copy / "checkpoint-2"
    cut_in_half(checkpoint / "value_head.safetensors")
    with pytest.raises(
        CheckpointError, match=re.escape(f"checkpoint {checkpoint} is damaged: value_head.safetensors cannot be read")
    ):
        ppo_trainer(tokenizer, run_copy, max_steps=4).train(resume_from_checkpoint=str(checkpoint))


def test_cut_model_weights_name_the_file(run_copy, tokenizer):
    checkpoint = run_copy / "checkpoint-2"
    cut_in_half(checkpoint / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"is damaged: model\.safetensors cannot be read"):
        ppo_trainer(tokenizer, run_copy, max_steps=4).train(resume_from_checkpoint=str(checkpoint))


def test_a_cut_optimizer_state_names_the_file(run_copy, tokenizer):
    checkpoint = run_copy / "checkpoint-2"
    cut_in_half(checkpoint / "optimizer.pt")
    with pytest.raises(CheckpointError, match=r"is damaged: optimizer\.pt cannot be read"):
        ppo_trainer(tokenizer, run_copy, max_steps=4).train(resume_from_checkpoint=str(checkpoint))


def test_resume_true_skips_an_interrupted_save_with_a_warning(run_copy, tokenizer):
    partial = interrupted_save(run_copy, step=4)
    trainer = ppo_trainer(tokenizer, run_copy, max_steps=3)
    with pytest.warns(UserWarning, match=rf"skipping the incomplete checkpoint {re.escape(str(partial))} \(missing"):
        trainer.train(resume_from_checkpoint=True)
    assert trainer.state.global_step == 3  # resumed from checkpoint-2


def test_resuming_a_weights_only_checkpoint_warns_that_the_optimizer_starts_afresh(run_copy, tokenizer):
    """save_only_model=True (the recipes' setting) saves no optimizer, schedule or RNG state: transformers resumes
    such a checkpoint silently with fresh ones, so the resume says so."""
    checkpoint = run_copy / "checkpoint-2"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checkpoints.warn_if_weights_only(checkpoint)  # a complete save: silent
        checkpoints.warn_if_weights_only(None)
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (checkpoint / name).unlink()
    trainer = ppo_trainer(tokenizer, run_copy, max_steps=3)
    with pytest.warns(UserWarning, match=rf"resuming from {re.escape(str(checkpoint))}, which holds the weights only"):
        trainer.train(resume_from_checkpoint=True)
    assert trainer.state.global_step == 3


def test_an_interrupted_save_named_explicitly_is_refused_naming_the_last_complete_one(run_copy, tokenizer):
    partial = interrupted_save(run_copy, step=4)
    with pytest.raises(
        CheckpointError,
        match=f"{re.escape(str(partial))} is incomplete .*resume from {re.escape(str(run_copy / 'checkpoint-2'))}",
    ):
        ppo_trainer(tokenizer, run_copy, max_steps=6).train(resume_from_checkpoint=str(partial))


def test_resume_from_the_last_complete_checkpoint_skips_the_interrupted_one(run_copy, tokenizer):
    interrupted_save(run_copy, step=4)
    with pytest.warns(
        UserWarning, match=r"skipping the incomplete checkpoint .*checkpoint-4 \(missing .*trainer_state"
    ):
        resume = resolve_resume_from_checkpoint("true", run_copy, required=("value_head.safetensors",))
    trainer = ppo_trainer(tokenizer, run_copy, max_steps=3)
    trainer.train(resume_from_checkpoint=resume)
    assert resume == str(run_copy / "checkpoint-2")
    assert trainer.state.global_step == 3


# ---------------------------------------------------------------------------------------------------------------------
# A full disk


def test_a_full_disk_during_a_save_says_so(tokenizer, tmp_path, monkeypatch):
    trainer = ppo_trainer(tokenizer, tmp_path / "run", max_steps=2)

    def full_disk(*args, **kwargs):
        raise RuntimeError(TORCH_FULL_DISK)  # what torch.save raises when a write fails for want of space

    monkeypatch.setattr(torch, "save", full_disk)
    monkeypatch.setattr(
        checkpoints.shutil, "disk_usage", lambda path: SimpleNamespace(total=10**9, used=10**9, free=0)
    )
    with pytest.raises(
        DiskFullError, match=re.escape(f"the disk holding {tmp_path / 'saved'} is full (0.0 MiB free)")
    ):
        trainer.save_model(str(tmp_path / "saved"))


def test_other_save_errors_pass_unchanged(tmp_path):
    with pytest.raises(RuntimeError, match="inline_container") as raised, disk_full_explained(tmp_path):
        raise RuntimeError(TORCH_FULL_DISK)  # this disk has room: not a full disk
    assert type(raised.value) is RuntimeError


def test_an_enospc_error_is_a_full_disk_whatever_the_free_space(tmp_path):
    message = re.escape(f"the disk holding {tmp_path} is full")
    with pytest.raises(DiskFullError, match=message) as raised, disk_full_explained(tmp_path):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert raised.value.errno == errno.ENOSPC


# ---------------------------------------------------------------------------------------------------------------------
# Which checkpoint is complete (files only)


def fake_checkpoint(output_dir: Path, step: int, files=("model.safetensors", "trainer_state.json")) -> Path:
    folder = output_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text("{}")
    return folder


def test_last_complete_checkpoint_goes_by_step_and_skips_incomplete_ones(tmp_path):
    fake_checkpoint(tmp_path, 9)
    fake_checkpoint(tmp_path, 10)
    fake_checkpoint(tmp_path, 30, files=("model.safetensors",))
    with pytest.warns(UserWarning, match=r"checkpoint-30 \(missing trainer_state\.json\)"):
        assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")


def test_required_files_and_weights_make_a_checkpoint_complete(tmp_path):
    fake_checkpoint(tmp_path, 1, files=("trainer_state.json", "value_head.safetensors"))
    fake_checkpoint(tmp_path, 2, files=("adapter_model.safetensors", "trainer_state.json"))
    with pytest.warns(UserWarning) as record:
        assert last_complete_checkpoint(tmp_path, required=("value_head.safetensors",)) is None
    messages = [str(warning.message) for warning in record]
    assert "checkpoint-2 (missing value_head.safetensors)" in messages[0]
    assert "checkpoint-1 (missing model weights (model.safetensors or" in messages[1]


def test_a_sharded_checkpoint_needs_every_shard(tmp_path):
    folder = fake_checkpoint(tmp_path, 1, files=("trainer_state.json", "model-00001-of-00002.safetensors"))
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert checkpoints.missing_files(folder) == ["model-00002-of-00002.safetensors"]
    (folder / "model.safetensors.index.json").write_text('{"weight_map": {"a": "model-0')  # cut short
    assert checkpoints.missing_files(folder) == ["a readable model.safetensors.index.json"]


def test_fsdp_sharded_model_state_holds_the_critic(tmp_path):
    folder = fake_checkpoint(tmp_path, 1, files=("trainer_state.json",))
    (folder / "pytorch_model_fsdp_0").mkdir()
    assert checkpoints.missing_files(folder, required=("value_head.safetensors",)) == []


@pytest.mark.parametrize("value", [None, False, "false", "False", "no", ""])
def test_resume_from_checkpoint_false_words_start_afresh(tmp_path, value):
    fake_checkpoint(tmp_path, 1)
    assert resolve_resume_from_checkpoint(value, tmp_path) is None


@pytest.mark.parametrize("value", [True, "true", "True", "yes", "1"])
def test_resume_from_checkpoint_true_words_pick_the_last_complete_one(tmp_path, value):
    fake_checkpoint(tmp_path, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_resume_from_checkpoint(value, tmp_path) == str(tmp_path / "checkpoint-1")


def test_resume_true_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(CheckpointError, match=re.escape(f"output_dir '{tmp_path}' holds no complete checkpoint")):
        resolve_resume_from_checkpoint("true", tmp_path)


def test_resume_from_a_folder_that_does_not_exist(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint folder '.*checkpoint-7' does not exist"):
        resolve_resume_from_checkpoint(str(tmp_path / "checkpoint-7"), tmp_path)
