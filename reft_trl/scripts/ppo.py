"""ReFT stage 2: PPO from the warm-up (SFT) checkpoint, with the programmatic answer reward.

The logic behind `examples/ppo_reft.py` and `reft-trl ppo`.
"""

from __future__ import annotations

from .data_args import DataArguments
from .online_stage import train_from_warmup


def main(script_args: DataArguments, training_args, model_args) -> None:
    from reft_trl import ReFTPPOTrainer

    train_from_warmup(ReFTPPOTrainer, "ReFT PPO", script_args, training_args, model_args)


def make_parser():
    from trl import ModelConfig, TrlParser

    from reft_trl import ReFTPPOConfig

    return TrlParser((DataArguments, ReFTPPOConfig, ModelConfig))
