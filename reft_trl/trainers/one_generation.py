"""One sampled solution per question on TRL's `GRPOConfig`, as ReFT's PPO and online self-training sample.

GRPO refuses fewer than 2 generations per prompt, because its baseline is the group mean, and requires the generation
batch to hold whole groups. ReFT's PPO baselines with the critic and online self-training needs no baseline, so one
sample per question is valid (and the paper's setting). Every other check and mapping of `GRPOConfig.__post_init__`
must still run: the group-size number is stood in for, for the length of the call, by `_OneSamplePerQuestion`, an
`int` equal to 2 that divides every batch size, so TRL's two group checks pass and nothing else changes.
`tests/trainers/test_one_generation.py` pins the source of TRL's `__post_init__`: a TRL upgrade that changes it fails
there, and the checks above are to be read again.
"""

from __future__ import annotations

from trl import GRPOConfig


class _OneSamplePerQuestion(int):
    """2 for `num_generations < 2`; 0 for `batch % num_generations` (a group of one divides every batch)."""

    def __new__(cls):
        return super().__new__(cls, 2)

    def __rmod__(self, other):
        return 0


def grpo_post_init_one_generation_allowed(config: GRPOConfig) -> None:
    """Run `GRPOConfig.__post_init__` on `config` in full, accepting `num_generations=1` (and `num_generations_eval=1`)."""
    one, one_eval = config.num_generations == 1, config.num_generations_eval == 1
    if one:
        config.num_generations = _OneSamplePerQuestion()
    if one_eval:
        config.num_generations_eval = _OneSamplePerQuestion()
    try:
        GRPOConfig.__post_init__(config)
    finally:
        if one:
            config.num_generations = 1
        if one_eval:
            config.num_generations_eval = 1
