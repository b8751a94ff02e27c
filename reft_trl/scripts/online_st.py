"""Online self-training baseline (Online-ST): ReFT's sampling loop with a cross-entropy update on the correct samples
and the gold chains of thought, from the warm-up (SFT) checkpoint.

The logic behind `examples/online_self_training.py` and `reft-trl online-st`.
"""

from __future__ import annotations

from .data_args import DataArguments
from .online_stage import train_from_warmup


def main(script_args: DataArguments, training_args, model_args) -> None:
    from reft_trl import OnlineSelfTrainingTrainer

    # P-CoT: the prompt opens the program, as ReFT samples; `completion` holds the gold chain of thought (its body)
    train_from_warmup(OnlineSelfTrainingTrainer, "online self-training", script_args, training_args, model_args)


def make_parser():
    from trl import ModelConfig, TrlParser

    from reft_trl import OnlineSelfTrainingConfig

    return TrlParser((DataArguments, OnlineSelfTrainingConfig, ModelConfig))
