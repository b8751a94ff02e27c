"""Checkpoints that are whole or refused: what a complete checkpoint holds, the last complete one, damaged files and a
full disk said as such.

transformers' `Trainer` (5.x) writes `checkpoint-N` in place: the model weights first (for ReFT PPO also the critic,
`value_head.safetensors`), then the optimizer, scheduler and RNG state, and `trainer_state.json` last. reft-trl's
trainers stage the save and rename it into place (`atomic_checkpoints`), but a checkpoint can still be incomplete: cut
by a power loss, copied in part, or saved in place by an earlier version. transformers' `get_last_checkpoint` would
pick it, as it picks the highest step. `last_complete_checkpoint` skips such folders with a warning;
`require_complete_checkpoint` refuses one named explicitly, saying which files it lacks and which checkpoint to resume
from instead.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from transformers.utils import (
    ADAPTER_SAFE_WEIGHTS_NAME,
    ADAPTER_WEIGHTS_NAME,
    SAFE_WEIGHTS_INDEX_NAME,
    SAFE_WEIGHTS_NAME,
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
)

TRAINER_STATE_FILE = "trainer_state.json"
WEIGHT_FILES = (
    SAFE_WEIGHTS_NAME,
    SAFE_WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
    WEIGHTS_INDEX_NAME,
    ADAPTER_SAFE_WEIGHTS_NAME,
    ADAPTER_WEIGHTS_NAME,
)
"""Files any one of which holds the model weights (transformers' `_load_from_checkpoint` reads these)."""
FSDP_MODEL_PREFIX = "pytorch_model_fsdp"
WEIGHT_FOLDER_PREFIXES = (FSDP_MODEL_PREFIX, "global_step")
"""Entries that hold the weights of FSDP (sharded state dict) and DeepSpeed checkpoints."""
TORCH_ARCHIVES = re.compile(r"(optimizer\.pt|scheduler\.pt|scaler\.pt|training_args\.bin|rng_state.*\.pth)")
"""Files written by `torch.save`: zip archives, so a cut one lacks its central directory."""
CHECKPOINT_FOLDER = re.compile(r"^checkpoint-(\d+)$")
LOW_DISK_BYTES = 16 * 2**20
"""Free space below which a failed write is put down to a full disk."""


class CheckpointError(ValueError):
    """A checkpoint folder that is missing, incomplete or damaged; the message names it and says what to do."""


class DiskFullError(OSError):
    """A save that failed because the disk is full; the message names the folder."""

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)


# ---------------------------------------------------------------------------------------------------------------------
# Complete checkpoints


def missing_files(checkpoint: str | os.PathLike, required: tuple[str, ...] = ()) -> list[str]:
    """What `checkpoint` lacks to be complete: model weights, `trainer_state.json` and each of `required`.

    `required` names files of model parts saved beside the weights (PPO's critic). FSDP's sharded model state holds
    every part of the model, so a checkpoint saved that way needs none of them.
    """
    folder = Path(checkpoint)
    missing = [] if _has_weights(folder) else [f"model weights ({' or '.join(WEIGHT_FILES[::2])})"]
    missing += _missing_shards(folder)
    required = () if fsdp_sharded(folder) else required
    missing += [name for name in (TRAINER_STATE_FILE, *required) if not (folder / name).is_file()]
    return missing


def fsdp_sharded(checkpoint: str | os.PathLike) -> bool:
    """Whether FSDP saved the model state of `checkpoint` sharded (`pytorch_model_fsdp_*`), every module included."""
    folder = Path(checkpoint)
    return folder.is_dir() and any(entry.name.startswith(FSDP_MODEL_PREFIX) for entry in folder.iterdir())


def _has_weights(folder: Path) -> bool:
    if any((folder / name).is_file() for name in WEIGHT_FILES):
        return True
    for entry in folder.iterdir():
        if entry.name.startswith(WEIGHT_FOLDER_PREFIXES):
            return True
        if entry.is_dir() and any(
            (entry / name).is_file() for name in (ADAPTER_SAFE_WEIGHTS_NAME, ADAPTER_WEIGHTS_NAME)
        ):
            return True  # one adapter per sub-folder when several were saved
    return False


def _missing_shards(folder: Path) -> list[str]:
    missing = []
    for index in (SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_INDEX_NAME):
        if (folder / index).is_file():
            try:
                shards = set(json.loads((folder / index).read_text())["weight_map"].values())
            except (ValueError, KeyError, AttributeError, TypeError):
                missing.append(f"a readable {index}")
                continue
            missing += sorted(shard for shard in shards if not (folder / shard).is_file())
    return missing


def checkpoints_newest_first(output_dir: str | os.PathLike) -> list[Path]:
    """The `checkpoint-N` folders of `output_dir`, highest step first."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), entry) for entry in folder.iterdir() if (m := CHECKPOINT_FOLDER.match(entry.name))]
    return [entry for _, entry in sorted(found, reverse=True) if entry.is_dir()]


def last_complete_checkpoint(output_dir: str | os.PathLike, required: tuple[str, ...] = ()) -> str | None:
    """The newest complete `checkpoint-N` in `output_dir` (None when there is none); newer incomplete ones, left by a
    run killed while saving, are skipped with a warning that names them."""
    for checkpoint in checkpoints_newest_first(output_dir):
        missing = missing_files(checkpoint, required)
        if not missing:
            return str(checkpoint)
        warnings.warn(
            f"skipping the incomplete checkpoint {checkpoint} (missing {', '.join(missing)}): its save was "
            "interrupted. Delete it once training has resumed from an earlier one.",
            stacklevel=2,
        )
    return None


def require_complete_checkpoint(checkpoint: str | os.PathLike, required: tuple[str, ...] = ()) -> None:
    """Raise `CheckpointError` unless `checkpoint` is a folder holding every file of a complete checkpoint, each of
    them readable (safetensors headers whole, `torch.save` archives not cut)."""
    folder = Path(checkpoint)
    if not folder.is_dir():
        raise CheckpointError(
            f"checkpoint folder {str(checkpoint)!r} does not exist: give a `checkpoint-N` folder, or True to resume "
            "from the last complete checkpoint of output_dir."
        )
    missing = missing_files(folder, required)
    if missing:
        earlier = _last_complete_quietly(folder.parent, required)
        instead = f"resume from {earlier}" if earlier else "start afresh"
        raise CheckpointError(
            f"checkpoint {folder} is incomplete (missing {', '.join(missing)}): its save was interrupted, or it was "
            f"not written by this trainer. Delete it and {instead}."
        )
    check_readable(folder)


def _last_complete_quietly(output_dir: str | os.PathLike, required: tuple[str, ...] = ()) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return last_complete_checkpoint(output_dir, required)


def check_readable(checkpoint: str | os.PathLike) -> None:
    """Raise `CheckpointError` naming the first file of `checkpoint` (and its adapter sub-folders) that cannot be read:
    a safetensors file whose header or data is cut, or a `torch.save` archive without its central directory."""
    from safetensors import SafetensorError, safe_open

    folder = Path(checkpoint)
    for path in sorted([*folder.glob("*.safetensors"), *folder.glob("*/*.safetensors")]):
        try:
            with safe_open(str(path), framework="pt"):
                pass
        except SafetensorError as error:
            raise CheckpointError(_damaged(folder, path.relative_to(folder), str(error))) from None
    for path in sorted(folder.iterdir()):
        if TORCH_ARCHIVES.fullmatch(path.name) and path.is_file() and not zipfile.is_zipfile(path):
            raise CheckpointError(_damaged(folder, path.name, "the archive is cut short"))


def load_safetensors(path: str | os.PathLike, device: str = "cpu") -> dict:
    """`safetensors.torch.load_file`, with a damaged file named (safetensors' own error names none)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    try:
        return load_file(str(path), device=device)
    except SafetensorError as error:
        raise CheckpointError(_damaged(path.parent, path.name, str(error))) from None


def _damaged(folder, name, reason: str) -> str:
    return (
        f"checkpoint {folder} is damaged: {name} cannot be read ({reason}). Its save was interrupted or the file was "
        "cut while copying; resume from another checkpoint."
    )


# ---------------------------------------------------------------------------------------------------------------------
# resume_from_checkpoint as the command line gives it


TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0", "none", "")


def resolve_resume_from_checkpoint(value, output_dir: str | os.PathLike, required: tuple[str, ...] = ()) -> str | None:
    """The checkpoint folder to resume from, or None to start afresh.

    `True` or the strings `true` / `yes` / `1` (what `--resume_from_checkpoint true` passes) mean the last complete
    checkpoint of `output_dir`, skipping incomplete ones with a warning; `False`, None and `false` / `no` / `0` mean
    none; anything else is a checkpoint folder, which must be complete.
    """
    word = value.strip().lower() if isinstance(value, str) else value
    if value is None or value is False or word in FALSE_WORDS:
        return None
    if value is True or word in TRUE_WORDS:
        checkpoint = last_complete_checkpoint(output_dir, required)
        if checkpoint is None:
            raise CheckpointError(
                f"resume_from_checkpoint={value!r}, but output_dir {str(output_dir)!r} holds no complete checkpoint "
                "folder: drop --resume_from_checkpoint to start afresh, or give a checkpoint folder."
            )
        return checkpoint
    require_complete_checkpoint(value, required)
    return os.fspath(value)


def warn_if_weights_only(checkpoint: str | os.PathLike | None) -> None:
    """Warn when `checkpoint` holds no optimizer state (saved with `save_only_model=True`, the recipes' and
    `ReFTSFTConfig`'s default): transformers then resumes its weights and step count, but the optimizer's moments,
    the learning-rate schedule and the random state start afresh, silently."""
    if checkpoint is None:
        return
    names = os.listdir(checkpoint)
    if any(name.startswith(("optimizer", "global_step")) for name in names):  # torch, FSDP or DeepSpeed state
        return
    warnings.warn(
        f"resuming from {checkpoint}, which holds the weights only (saved with save_only_model=True): the optimizer "
        "state, the learning-rate schedule and the random state start afresh from there. Train with "
        "--save_only_model false to resume exactly.",
        stacklevel=3,
    )


def required_files(trainer) -> tuple[str, ...]:
    """Files a complete checkpoint of `trainer` holds besides the weights and the trainer state: the critic's
    `value_head.safetensors` when the policy carries a critic (ReFT PPO), else none."""
    from accelerate.utils import is_peft_model

    from .value_head import VALUE_HEAD_FILE, VALUE_HEAD_NAME

    model = trainer.accelerator.unwrap_model(trainer.model)
    model = model.get_base_model() if is_peft_model(model) else model
    return (VALUE_HEAD_FILE,) if hasattr(model, VALUE_HEAD_NAME) else ()


def resume_checkpoint_of(trainer, value) -> str | None:
    """`resolve_resume_from_checkpoint` for `trainer`: its output_dir and the files its checkpoints hold."""
    return resolve_resume_from_checkpoint(value, trainer.args.output_dir, required_files(trainer))


# ---------------------------------------------------------------------------------------------------------------------
# A full disk


@contextmanager
def disk_full_explained(folder: str | os.PathLike) -> Iterator[None]:
    """Re-raise a write error caused by a full disk as `DiskFullError` naming `folder`.

    `torch.save` reports a full disk as `[enforce fail at inline_container.cc:...] unexpected pos` and safetensors as
    an I/O error string: the errno, or else a write error with almost no free space left, tells a full disk from
    other failures, which pass unchanged.
    """
    try:
        yield
    except DiskFullError:
        raise
    except Exception as error:
        if not is_disk_full(error, folder):
            raise
        raise disk_full_error(folder) from error


def is_disk_full(error: BaseException, folder: str | os.PathLike) -> bool:
    """Whether `error`, raised while writing into `folder`, comes from a full disk: its errno (or its text) says so,
    or it is a write error with under `LOW_DISK_BYTES` free on the disk holding `folder`."""
    if isinstance(error, DiskFullError) or _says_disk_full(error):
        return True
    return _is_write_error(error) and _free_bytes(folder) < LOW_DISK_BYTES


def disk_full_error(
    folder: str | os.PathLike, what: str = "what was being saved there is incomplete"
) -> DiskFullError:
    """The `DiskFullError` for a save into `folder`: the folder, the free space, `what` became of the save, and what
    to do."""
    return DiskFullError(
        f"the disk holding {os.fspath(folder)} is full ({_free_bytes(folder) / 2**20:.1f} MiB free); {what}. Free "
        "space on that disk (or keep fewer checkpoints: save_total_limit, save_only_model) and resume from the last "
        "complete checkpoint."
    )


def _says_disk_full(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(error) or "os error 28" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _is_write_error(error: BaseException) -> bool:
    from safetensors import SafetensorError

    return isinstance(error, (OSError, SafetensorError)) or "inline_container" in str(error)


def _free_bytes(folder: str | os.PathLike) -> float:
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return float("inf")
