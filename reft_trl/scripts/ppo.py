"""ReFT stage 2: PPO from the warm-up (SFT) checkpoint, with the programmatic answer reward.

The logic behind `examples/ppo_reft.py` and `reft-trl ppo`.
"""

from __future__ import annotations

import argparse

from .data_args import DataArguments, model_init_kwargs

ReFTScriptArguments = DataArguments


def main(script_args: DataArguments, training_args, model_args) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import get_peft_config, get_quantization_config

    from reft_trl import ReFTPPOTrainer

    if training_args.task is None:
        raise ValueError("Set `task` (gsm8k, svamp, mathqa, mathqa_numeric) in the recipe or on the command line.")
    # The paper force-prefixes P-CoT rollouts with the program header and the question as its docstring
    dataset = script_args.load(training_args.task, training_args.cot, for_rollouts=True)

    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path, revision=model_args.model_revision, padding_side="left"
    )
    model = AutoModelForCausalLM.from_pretrained(
        model_args.model_name_or_path,
        quantization_config=get_quantization_config(model_args),
        **model_init_kwargs(model_args, training_args),
    )
    trainer = ReFTPPOTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    trainer.accelerator.print(
        f"ReFT PPO on {trainer.accelerator.num_processes} process(es), {len(dataset)} questions."
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    trainer.accelerator.print(f"Saved the ReFT policy to {training_args.output_dir}.")


def make_parser(subparsers: argparse._SubParsersAction | None = None):
    from trl import ModelConfig, TrlParser

    from reft_trl import ReFTPPOConfig

    dataclass_types = (ReFTScriptArguments, ReFTPPOConfig, ModelConfig)
    if subparsers is not None:
        return subparsers.add_parser("ppo", help="ReFT PPO stage", dataclass_types=dataclass_types)
    return TrlParser(dataclass_types)
