"""Rewards by task name: the built-in ReFT tasks and rewards registered at run time.

Another package adds a task by calling `register_reward(name, factory)` on import, where `factory(cot="ncot",
**options)` returns a TRL reward function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from reft_trl.answer_format import TASKS

from .answer_match import AnswerMatchReward

RewardFactory = Callable[..., Callable]
"""`factory(cot="ncot", **options)` returns a TRL reward function."""

_BUILTIN_REWARDS: dict[str, RewardFactory] = {task: functools.partial(AnswerMatchReward, task) for task in TASKS}
_registered: dict[str, RewardFactory] = {}


def get_reward(task: str, cot: str = "ncot", **options) -> Callable:
    """The reward function for `task`, built with `cot` and the factory's `options` (for the built-ins, the
    keyword arguments of `AnswerMatchReward`: `strict`, `partial`, `tolerance`, `program_timeout`, ...).

    A reward registered at run time wins over a built-in of the same name.

    >>> reward = get_reward("gsm8k", strict=False)
    >>> reward(["so she pays $1,080 in total."], answer=["1080"])
    [1.0]
    """
    factory = _registered.get(task) or _BUILTIN_REWARDS.get(task)
    if factory is None:
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
    """The task names `get_reward` accepts: built-ins and registered rewards, sorted."""
    return sorted({*_BUILTIN_REWARDS, *_registered})
