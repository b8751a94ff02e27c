"""Checkpoints saved whole or not at all, and `train(resume_from_checkpoint=True)` resuming from a complete one.

transformers' `Trainer._save_checkpoint` (5.x) writes `checkpoint-N` in place: the model weights, the optimizer,
scheduler and RNG state, and `trainer_state.json` last. A run killed during a save leaves a `checkpoint-N` that
`resume_from_checkpoint=True` would pick, as it picks the highest step. `AtomicCheckpointsMixin` has the whole save
written into a hidden staging folder, `.checkpoint-N.tmp/checkpoint-N`, then renamed to `checkpoint-N` once complete.
A rename within one folder is atomic, so a kill at any moment leaves the earlier checkpoints as they were, with or
without the new one whole beside them. A staging folder left by a killed save is removed at the next save.

How the save is staged: transformers and TRL both build the checkpoint path as `_get_output_dir(trial)/checkpoint-N`,
so while a save is staged `_get_output_dir` names the staging folder, and their `_save_checkpoint` runs unchanged
(TRL's model card and its own state files included). Three things would then be wrong, and are put right here:

- the best checkpoint (`load_best_model_at_end`) is recorded under its final path before the rename, and
  `trainer_state.json` is rewritten in the staging folder when that path changed;
- older checkpoints are rotated (`save_total_limit`) in the output folder after the rename, as transformers would;
- the Hub push (`push_to_hub`) reads the renamed folder, after the rename.

With several processes, every process writes its part into the same staging folder; the processes that save
(`args.should_save`: the main one, or one per node with `save_on_each_node`) rename it after a barrier, and everyone
waits for the rename. Atomic against a killed process; after a power loss, files not yet flushed to disk may still be
cut, which `require_complete_checkpoint` names on resume.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, SaveStrategy, rotate_checkpoints
from transformers.utils import logging

from .checkpoints import (
    TRAINER_STATE_FILE,
    disk_full_error,
    is_disk_full,
    resume_checkpoint_of,
    warn_if_weights_only,
)

STAGING_PREFIX = "."
STAGING_SUFFIX = ".tmp"
"""A checkpoint is staged in `.checkpoint-N.tmp`: hidden, and no `checkpoint-*` pattern of transformers matches it."""
REPLACED = "replaced"
"""Where, inside the staging folder, an earlier save of the same step goes while the new one takes its place."""

logger = logging.get_logger(__name__)


def staging_folder(run_dir: str | os.PathLike, step: int) -> str:
    """The staging folder of the checkpoint of `step` in `run_dir`: `.checkpoint-N.tmp`, holding `checkpoint-N`."""
    return os.path.join(run_dir, f"{STAGING_PREFIX}{PREFIX_CHECKPOINT_DIR}-{step}{STAGING_SUFFIX}")


def remove_stale_staging(run_dir: str | os.PathLike) -> None:
    """Remove the staging folders in `run_dir` that saves killed before their rename left behind."""
    folder = Path(run_dir)
    if not folder.is_dir():
        return
    for entry in folder.glob(f"{STAGING_PREFIX}{PREFIX_CHECKPOINT_DIR}-*{STAGING_SUFFIX}"):
        logger.warning(f"Removing {entry}: a checkpoint save was interrupted before it was complete.")
        shutil.rmtree(entry, ignore_errors=True)


def publish(staged: str | os.PathLike, checkpoint: str | os.PathLike) -> None:
    """Rename the complete `staged` checkpoint to `checkpoint`, then remove its staging folder. An earlier save of the
    same step (a resumed run saving that step again) is replaced: it is moved into the staging folder first, so only
    between those two renames is there no `checkpoint-N`."""
    staging = os.path.dirname(staged)
    if os.path.isdir(checkpoint):
        os.rename(checkpoint, os.path.join(staging, REPLACED))
    os.rename(staged, checkpoint)
    shutil.rmtree(staging, ignore_errors=True)


class AtomicCheckpointsMixin:
    """Put before the TRL trainer in the bases. Checkpoint saves are staged and renamed into place once complete; a
    full disk during one raises `DiskFullError` naming the checkpoint; `train(resume_from_checkpoint=True)` resumes
    from the last complete checkpoint, skipping newer incomplete ones with a warning (and warning when it holds the
    weights only, with no optimizer state)."""

    _staging_dir: str | None = None

    def train(self, resume_from_checkpoint=None, trial=None, ignore_keys_for_eval=None):
        # transformers' True is the highest step, complete or not; ours the last complete checkpoint. The words
        # the command line passes (true / false) are read too, and a folder named explicitly must be complete.
        resume_from_checkpoint = resume_checkpoint_of(self, resume_from_checkpoint)
        warn_if_weights_only(resume_from_checkpoint)
        return super().train(
            resume_from_checkpoint=resume_from_checkpoint, trial=trial, ignore_keys_for_eval=ignore_keys_for_eval
        )

    def _get_output_dir(self, trial):
        return self._staging_dir if self._staging_dir is not None else super()._get_output_dir(trial)

    def _push_from_checkpoint(self, checkpoint_folder):
        if self._staging_dir is None:  # a staged save pushes from the renamed folder
            super()._push_from_checkpoint(checkpoint_folder)

    def _save_checkpoint(self, model, trial):
        run_dir = self._get_output_dir(trial)
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        checkpoint, staging = os.path.join(run_dir, name), staging_folder(run_dir, self.state.global_step)
        if self.args.should_save:
            remove_stale_staging(run_dir)
        self.accelerator.wait_for_everyone()  # no process writes into the staging folder before it is cleared

        self._staging_dir = staging
        try:
            super()._save_checkpoint(model, trial)
            self._record_best_checkpoint(run_dir, os.path.join(staging, name))
            self._staging_dir = None
            self.accelerator.wait_for_everyone()  # every process has written its part
            if self.args.should_save:
                publish(os.path.join(staging, name), checkpoint)
        except BaseException as error:
            self._staging_dir = None
            full = is_disk_full(error, staging)  # before the partial save is removed, freeing space
            if self.args.should_save:
                shutil.rmtree(staging, ignore_errors=True)
            if full:
                raise disk_full_error(checkpoint, f"{name} was not saved (its partial copy is removed)") from error
            raise
        self.accelerator.wait_for_everyone()  # the checkpoint is in place for every process

        if self.args.push_to_hub:
            self._push_from_checkpoint(checkpoint)
        if self.args.should_save:
            rotate_checkpoints(
                output_dir=run_dir,
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=True,
            )

    def _record_best_checkpoint(self, run_dir: str, staged: str) -> None:
        """Record the best checkpoint under its final path, as transformers does in place (the one of
        `state.best_global_step`, when it exists or is the one being saved), and rewrite the staged trainer state when
        that changed what it holds: transformers, looking in the staging folder, recorded the staged path, or none."""
        strategies = (SaveStrategy.STEPS, SaveStrategy.EPOCH, SaveStrategy.BEST)
        if self.args.save_strategy not in strategies or not self.state.best_global_step:
            return
        best = os.path.join(run_dir, f"{PREFIX_CHECKPOINT_DIR}-{self.state.best_global_step}")
        if self.state.best_global_step != self.state.global_step and not os.path.exists(best):
            return
        if best != self.state.best_model_checkpoint:
            self.state.best_model_checkpoint = best
            if self.args.should_save:
                self.state.save_to_json(os.path.join(staged, TRAINER_STATE_FILE))
