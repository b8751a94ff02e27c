"""Rewards: completions and gold answers in, floats out. Knows nothing of models or data loaders.

`AnswerMatchReward` is the ReFT reward as a TRL reward function; `get_reward(task, cot)` builds it (or a reward
registered by another package) by task name. P-CoT programs run in `sandbox` worker processes.
"""

from typing import TYPE_CHECKING

from .answer_match import AnswerMatchReward
from .compare import answers_match, parse_number
from .extract import extract_answer
from .registry import available_rewards, get_reward, register_reward

if TYPE_CHECKING:
    from .sandbox import ProgramResult, run_program, run_programs

_SANDBOX_NAMES = ("run_program", "run_programs", "ProgramResult")

__all__ = [
    "AnswerMatchReward",
    "ProgramResult",
    "answers_match",
    "available_rewards",
    "extract_answer",
    "get_reward",
    "parse_number",
    "register_reward",
    "run_program",
    "run_programs",
]


def __getattr__(name: str):
    """The sandbox's names, imported on first use: N-CoT users never load the program-running machinery."""
    if name in _SANDBOX_NAMES:
        from . import sandbox

        return getattr(sandbox, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
