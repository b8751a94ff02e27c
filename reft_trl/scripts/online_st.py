"""Online self-training baseline (Online-ST): ReFT's sampling loop with a cross-entropy update on the correct samples
and the gold chains of thought, from the warm-up (SFT) checkpoint.

The logic behind `examples/online_self_training.py` and `reft-trl online-st`.
"""

from __future__ import annotations

import argparse

from .data_args import DataArguments, model_init_kwargs


def main(script_args: DataArguments, training_args, model_args) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import get_peft_config, get_quantization_config

    from reft_trl import OnlineSelfTrainingTrainer

    if training_args.task is None:
        raise ValueError("Set `task` (gsm8k, svamp, mathqa, mathqa_numeric) in the recipe or on the command line.")
    if model_args.model_name_or_path is None:
        raise ValueError("Set the warm-up checkpoint to start from: --model_name_or_path <path>.")
    # Sampled as ReFT samples (P-CoT: the prompt opens the program); `completion` holds the gold chain of thought
    dataset = script_args.load(training_args.task, training_args.cot, for_rollouts=True)

    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path, revision=model_args.model_revision, padding_side="left"
    )
    model = AutoModelForCausalLM.from_pretrained(
        model_args.model_name_or_path,
        quantization_config=get_quantization_config(model_args),
        **model_init_kwargs(model_args, training_args),
    )
    trainer = OnlineSelfTrainingTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    trainer.accelerator.print(
        f"Online self-training on {trainer.accelerator.num_processes} process(es), {len(dataset)} questions."
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    trainer.accelerator.print(f"Saved the online self-training policy to {training_args.output_dir}.")


def make_parser(subparsers: argparse._SubParsersAction | None = None):
    from trl import ModelConfig, TrlParser

    from reft_trl import OnlineSelfTrainingConfig

    dataclass_types = (DataArguments, OnlineSelfTrainingConfig, ModelConfig)
    if subparsers is not None:
        return subparsers.add_parser(
            "online-st", help="online self-training baseline", dataclass_types=dataclass_types
        )
    return TrlParser(dataclass_types)
