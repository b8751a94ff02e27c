"""Checks a stage runs before it loads anything heavy: the model path exists, the training set has rows, the trainer's
config is of its stage's class.

>>> check_model_path("./no/such/checkpoint")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
FileNotFoundError: model path './no/such/checkpoint' does not exist ...
>>> require_rows([], "the training set")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: the training set holds no rows: nothing to train on. ...
"""

from __future__ import annotations

import os


def looks_like_path(name: str) -> bool:
    """Whether `name` is written as a file-system path rather than a Hub id (`org/name`).

    >>> looks_like_path("runs/sft/checkpoint-2"), looks_like_path("~/models/sft"), looks_like_path("gpt2")
    (True, True, False)
    """
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(sep in name for sep in separators) or name.startswith((".", "~"))


def check_model_path(name, what: str = "model path") -> None:
    """Raise `FileNotFoundError` naming `name` when it is written as a path, does not exist, and cannot be a Hub id
    either (it is not one, or `HF_HUB_OFFLINE` is set); otherwise do nothing and let `from_pretrained` load it.

    Without this check transformers reports a missing folder as "Repo id must be in the form ...".
    """
    if not isinstance(name, (str, os.PathLike)):
        return
    name = os.fspath(name)
    path = os.path.expanduser(name)
    if not looks_like_path(name) or os.path.exists(path):
        return
    if _hub_offline() or not _is_repo_id(name):
        raise FileNotFoundError(
            f"{what} {name!r} does not exist (looked for {os.path.abspath(path)}): give the folder of a saved model "
            "(check the spelling and the working directory) or a Hub id."
        )


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in constants.ENV_VARS_TRUE_VALUES


def _is_repo_id(name: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def require_rows(dataset, what: str) -> None:
    """Raise a `ValueError` naming `what` when `dataset` has no rows (datasets without a length pass)."""
    if dataset is None or not hasattr(dataset, "__len__") or len(dataset) > 0:
        return
    raise ValueError(
        f"{what} holds no rows: nothing to train on. Check the data source and `train_limit`; with "
        "`skip_bad_rows`, every row may have been skipped (the warning above says why)."
    )


def check_trainer_inputs(model, train_dataset) -> None:
    """What a trainer's constructor checks first: a model given as a path exists, and the training set has rows."""
    check_model_path(model)
    require_rows(train_dataset, "train_dataset")


def trainer_config(args, config_class: type, output_dir: str):
    """A trainer's `args`: `config_class(output_dir)` when None, `args` itself when a `config_class`; any other
    config is refused with a `TypeError` naming the class expected."""
    if args is None:
        return config_class(output_dir)
    if not isinstance(args, config_class):
        name = config_class.__name__
        article = "an" if name[0] in "AEIOU" else "a"
        raise TypeError(f"args must be {article} {name}, got {type(args).__name__}.")
    return args
