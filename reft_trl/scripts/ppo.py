"""ReFT stage 2: PPO from the warm-up (SFT) checkpoint, with the programmatic answer reward.

The logic behind `examples/ppo_reft.py` and `reft-trl ppo`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field


@dataclass
class ReFTScriptArguments:
    """Where the training questions come from (the task and chain-of-thought kind are in the trainer config)."""

    dataset_source: str | None = field(
        default=None,
        metadata={
            "help": "Data source: None (bundled default), 'reft', 'original', 'hub', or a path / URL to a "
            "ReFT-format JSON or JSON-lines file."
        },
    )
    dataset_split: str = field(default="train", metadata={"help": "Split to train on."})
    train_limit: int | None = field(default=None, metadata={"help": "Use only the first N training questions."})
    template: str = field(
        default="reft", metadata={"help": "Prompt format: 'reft' (the paper's) or 'chat' (the tokenizer's template)."}
    )
    skip_bad_rows: bool = field(default=False, metadata={"help": "Skip malformed data rows instead of failing."})


def main(script_args: ReFTScriptArguments, training_args, model_args) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import get_peft_config, get_quantization_config

    from reft_trl import ReFTPPOTrainer
    from reft_trl.data import load_task

    if training_args.task is None:
        raise ValueError("Set `task` (gsm8k, svamp, mathqa, mathqa_numeric) in the recipe or on the command line.")
    dataset = load_task(
        training_args.task,
        cot=training_args.cot,
        split=script_args.dataset_split,
        source=script_args.dataset_source,
        template=script_args.template,
        limit=script_args.train_limit,
        skip_bad_rows=script_args.skip_bad_rows,
        # The paper force-prefixes P-CoT rollouts with the program header and the question as its docstring
        program_prefix_in_prompt=training_args.cot == "pcot",
    )

    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path, revision=model_args.model_revision, padding_side="left"
    )
    quantization_config = get_quantization_config(model_args)
    model = AutoModelForCausalLM.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        dtype=model_args.dtype,
        attn_implementation=model_args.attn_implementation,
        quantization_config=quantization_config,
        trust_remote_code=training_args.trust_remote_code,
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
