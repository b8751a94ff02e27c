"""Rewards by task name: the built-in ReFT tasks, rewards registered at run time, and other packages' entry points.

A package adds a task by declaring an entry point in the group `reft_trl.rewards` whose name is the task and whose
object is a factory `factory(cot="ncot", **options) -> reward function`, e.g. in its `pyproject.toml`:

    [project.entry-points."reft_trl.rewards"]
    aqua = "my_package.rewards:make_aqua_reward"

Entry points are read once, on the first lookup, and their factories imported only when their task is asked for.
They never replace a built-in name; a name registered at run time wins over an entry point.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from collections.abc import Callable

from .answer_match import AnswerMatchReward
from .compare import GSM8K, MATHQA, MATHQA_NUMERIC, SVAMP

ENTRY_POINT_GROUP = "reft_trl.rewards"

RewardFactory = Callable[..., Callable]
"""`factory(cot="ncot", **options)` returns a TRL reward function."""

logger = logging.getLogger(__name__)

_BUILTIN_REWARDS: dict[str, RewardFactory] = {
    task: functools.partial(AnswerMatchReward, task) for task in (GSM8K, SVAMP, MATHQA, MATHQA_NUMERIC)
}
_registered: dict[str, RewardFactory] = {}
_entry_points: dict[str, importlib.metadata.EntryPoint] | None = None


def get_reward(task: str, cot: str = "ncot", **options) -> Callable:
    """The reward function for `task`, built with `cot` and the factory's `options` (for the built-ins, the
    keyword arguments of `AnswerMatchReward`: `strict`, `partial`, `tolerance`, `program_timeout`, ...).

    Lookup order: rewards registered at run time, built-ins, then entry points (imported only when asked for).

    >>> reward = get_reward("gsm8k", strict=False)
    >>> reward(["so she pays $1,080 in total."], answer=["1080"])
    [1.0]
    """
    if task in _registered:
        factory = _registered[task]
    elif task in _BUILTIN_REWARDS:
        factory = _BUILTIN_REWARDS[task]
    elif task in _declared_entry_points():
        factory = _declared_entry_points()[task].load()
    else:
        raise KeyError(f"No reward for task {task!r}; available: {', '.join(available_rewards())}.")
    return factory(cot=cot, **options)


def register_reward(name: str, factory: RewardFactory, overwrite: bool = False) -> None:
    """Make `get_reward(name, cot, **options)` call `factory(cot=cot, **options)`.

    A built-in or already registered name is only replaced with `overwrite=True`.
    """
    if not callable(factory):
        raise TypeError(f"The reward factory for {name!r} must be callable, got {type(factory).__name__}.")
    if not overwrite and (name in _BUILTIN_REWARDS or name in _registered):
        raise ValueError(f"A reward named {name!r} exists already; pass overwrite=True to replace it.")
    _registered[name] = factory


def available_rewards() -> list[str]:
    """The task names `get_reward` accepts: built-ins, registered rewards and entry points, sorted."""
    return sorted({*_BUILTIN_REWARDS, *_registered, *_declared_entry_points()})


def _declared_entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    """The entry points of the `reft_trl.rewards` group by name, read once; built-in names cannot be shadowed."""
    global _entry_points
    if _entry_points is None:
        declared = {}
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if entry_point.name in _BUILTIN_REWARDS:
                logger.warning("Ignoring entry point %r: it would shadow a built-in reward.", entry_point.value)
            else:
                declared[entry_point.name] = entry_point
        _entry_points = declared
    return _entry_points
