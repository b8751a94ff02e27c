"""Checkpoints appear whole or not at all: each save is written into `.checkpoint-N.tmp` and renamed into place, for
the PPO, SFT and online self-training trainers; the best checkpoint, rotation and a full disk behave as in place."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from datasets import Dataset
from transformers.trainer_utils import get_last_checkpoint

from reft_trl.trainers import checkpoints
from reft_trl.trainers.atomic_checkpoints import publish, remove_stale_staging, staging_folder
from reft_trl.trainers.checkpoints import DiskFullError, last_complete_checkpoint, missing_files
from reft_trl.trainers.online_self_training_trainer import OnlineSelfTrainingTrainer
from reft_trl.trainers.ppo_trainer import ReFTPPOTrainer
from reft_trl.trainers.sft_trainer import ReFTSFTTrainer
from tests.trainers import test_online_self_training as online_st
from tests.trainers import test_ppo_trainer as ppo
from tests.trainers import test_sft_trainer as sft
from tests.utils import tiny_llama

TORCH_FULL_DISK = "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"
SAVING = dict(save_strategy="steps", save_steps=1, max_steps=2)


def ppo_trainer(tokenizer, output_dir: Path, **overrides):
    return ReFTPPOTrainer(
        model=tiny_llama(ppo.SMALL_VOCAB),
        reward_funcs=ppo.digit_share,
        args=ppo.make_args(output_dir, output_dir=str(output_dir), **{**SAVING, **overrides}),
        train_dataset=ppo.arithmetic_prompts(),
        processing_class=tokenizer,
    )


def sft_trainer(tokenizer, output_dir: Path, eval_dataset=None, **overrides):
    return ReFTSFTTrainer(
        model=tiny_llama(len(tokenizer)),
        args=sft._args(output_dir, **{**SAVING, **overrides}),
        train_dataset=Dataset.from_dict(sft._rows(8)),
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
    )


def online_st_trainer(tokenizer, output_dir: Path, **overrides):
    return OnlineSelfTrainingTrainer(
        model=tiny_llama(online_st.SMALL_VOCAB),
        reward_funcs=online_st.reward_from_column,
        args=online_st.make_args(output_dir, output_dir=str(output_dir), **{**SAVING, **overrides}),
        train_dataset=online_st.rows(),
        processing_class=tokenizer,
    )


TRAINERS = {"ppo": ppo_trainer, "sft": sft_trainer, "online_st": online_st_trainer}


def leftovers(output_dir: Path) -> list[str]:
    return sorted(entry.name for entry in output_dir.iterdir() if entry.name.endswith(".tmp"))


# ---------------------------------------------------------------------------------------------------------------------
# A save in progress is not a checkpoint


@pytest.mark.parametrize("stage", sorted(TRAINERS))
def test_a_checkpoint_appears_only_once_complete(tokenizer, tmp_path, stage):
    output_dir = tmp_path / "run"
    trainer = TRAINERS[stage](tokenizer, output_dir)
    seen_mid_save = []
    save_model = trainer.save_model

    def watched(*args, **kwargs):  # the weights are written, trainer_state.json is not yet
        save_model(*args, **kwargs)
        seen_mid_save.append(
            (get_last_checkpoint(output_dir), sorted(p.name for p in output_dir.glob("checkpoint-*")))
        )

    trainer.save_model = watched
    trainer.train()

    # What a run killed in the middle of saving step 2 would have left: checkpoint-1 as the last, whole
    assert seen_mid_save == [(None, []), (str(output_dir / "checkpoint-1"), ["checkpoint-1"])]
    for step in (1, 2):
        assert missing_files(output_dir / f"checkpoint-{step}") == []
        state = json.loads((output_dir / f"checkpoint-{step}" / "trainer_state.json").read_text())
        assert state["global_step"] == step
    assert leftovers(output_dir) == []


def test_a_checkpoint_save_cut_short_leaves_no_folder_and_is_cleared_by_the_next_save(tokenizer, tmp_path):
    output_dir = tmp_path / "run"
    stale = Path(staging_folder(output_dir, 7)) / "checkpoint-7"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"cut")  # a save killed before its rename
    sft_trainer(tokenizer, output_dir, max_steps=1).train()
    assert leftovers(output_dir) == []
    assert sorted(p.name for p in output_dir.glob("checkpoint-*")) == ["checkpoint-1"]


def test_saving_a_step_again_replaces_its_checkpoint(tmp_path):
    staged = Path(staging_folder(tmp_path, 4)) / "checkpoint-4"
    staged.mkdir(parents=True)
    (staged / "trainer_state.json").write_text("new")
    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text("old")
    publish(staged, tmp_path / "checkpoint-4")
    assert (tmp_path / "checkpoint-4" / "trainer_state.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-4"]


def test_removing_stale_staging_folders_keeps_checkpoints(tmp_path):
    (tmp_path / "checkpoint-3").mkdir()
    Path(staging_folder(tmp_path, 5)).mkdir()
    remove_stale_staging(tmp_path)
    remove_stale_staging(tmp_path / "missing")  # an output folder not made yet
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-3"]


# ---------------------------------------------------------------------------------------------------------------------
# What transformers does around the save: the best checkpoint, rotation


def test_the_best_checkpoint_is_recorded_under_its_final_path(tokenizer, tmp_path):
    output_dir = tmp_path / "run"
    trainer = sft_trainer(
        tokenizer, output_dir, eval_dataset=Dataset.from_dict(sft._rows(4, start=20)), eval_strategy="steps",
        eval_steps=1, load_best_model_at_end=True, metric_for_best_model="loss",
    )  # fmt: skip
    trainer.train()
    best = trainer.state.best_model_checkpoint
    assert best in (str(output_dir / "checkpoint-1"), str(output_dir / "checkpoint-2")), best
    saved = json.loads((output_dir / "checkpoint-2" / "trainer_state.json").read_text())["best_model_checkpoint"]
    assert saved == best


def test_save_total_limit_rotates_the_renamed_checkpoints(tokenizer, tmp_path):
    output_dir = tmp_path / "run"
    sft_trainer(tokenizer, output_dir, max_steps=3, save_total_limit=2).train()
    assert sorted(p.name for p in output_dir.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    assert leftovers(output_dir) == []


# ---------------------------------------------------------------------------------------------------------------------
# A full disk while transformers writes the optimizer state


def test_a_full_disk_while_saving_the_optimizer_names_the_checkpoint(tokenizer, tmp_path, monkeypatch):
    output_dir = tmp_path / "run"
    trainer = ppo_trainer(tokenizer, output_dir, max_steps=1)
    save = torch.save

    def full_disk_for_the_optimizer(obj, path, *args, **kwargs):
        if str(path).endswith("optimizer.pt"):
            raise RuntimeError(TORCH_FULL_DISK)  # what torch.save raises when a write fails for want of space
        return save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk_for_the_optimizer)
    monkeypatch.setattr(
        checkpoints.shutil, "disk_usage", lambda path: SimpleNamespace(total=10**9, used=10**9, free=0)
    )
    checkpoint = output_dir / "checkpoint-1"
    message = f"the disk holding {checkpoint} is full (0.0 MiB free); checkpoint-1 was not saved"
    with pytest.raises(DiskFullError, match=re.escape(message)):
        trainer.train()
    assert not checkpoint.exists()
    assert leftovers(output_dir) == []
    assert last_complete_checkpoint(output_dir) is None
