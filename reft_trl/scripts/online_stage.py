"""What the online stages' commands share (ReFT PPO, online self-training): load the warm-up policy and its
tokenizer as the recipe says, build the trainer on the training questions, train, save."""

from __future__ import annotations

from reft_trl.preflight import check_model_path, require_rows

from .data_args import DataArguments, model_init_kwargs, train_and_save


def train_from_warmup(trainer_class, stage: str, script_args: DataArguments, training_args, model_args):
    """Train `trainer_class` (a `GRPOTrainer` subclass taking `task` / `cot` in its config) from the checkpoint in
    `model_args.model_name_or_path`; returns the trainer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import get_peft_config, get_quantization_config

    if training_args.task is None:
        raise ValueError("Set `task` (gsm8k, svamp, mathqa, mathqa_numeric) in the recipe or on the command line.")
    if model_args.model_name_or_path is None:
        raise ValueError("Set the warm-up checkpoint to start from: --model_name_or_path <path>.")
    check_model_path(model_args.model_name_or_path)
    # The paper force-prefixes P-CoT rollouts with the program header and the question as its docstring
    dataset = script_args.load(training_args.task, training_args.cot, for_rollouts=True)
    require_rows(dataset, f"the {stage} training set")

    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path, revision=model_args.model_revision, padding_side="left"
    )
    model = AutoModelForCausalLM.from_pretrained(
        model_args.model_name_or_path,
        quantization_config=get_quantization_config(model_args),
        **model_init_kwargs(model_args, training_args),
    )
    trainer = trainer_class(
        model=model,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    trainer.accelerator.print(f"{stage} on {trainer.accelerator.num_processes} process(es), {len(dataset)} questions.")
    train_and_save(trainer, training_args)
    trainer.accelerator.print(f"Saved the {stage} policy to {training_args.output_dir}.")
    return trainer
