"""ReFT stage 1: SFT warm-up on (question, chain of thought) pairs.

The logic behind `examples/sft_warmup.py` and `reft-trl sft`.
"""

from __future__ import annotations

from reft_trl.preflight import check_model_path, require_rows

from .data_args import DataArguments, model_init_kwargs, train_and_save


def main(script_args: DataArguments, training_args, model_args):
    if training_args.task is None:
        raise ValueError("Set the task to train on: --task gsm8k | svamp | mathqa | mathqa_numeric.")
    if model_args.model_name_or_path is None:
        raise ValueError("Set the model to warm up: --model_name_or_path <local path or Hub id>.")
    train_sft(script_args.load(training_args.task, training_args.cot), training_args, model_args)


def train_sft(train_dataset, training_args, model_args):
    """Supervised fine-tuning of `model_args.model_name_or_path` on prompt-completion rows with `ReFTSFTTrainer`, as
    the recipe says; saves the final model and lists the per-epoch checkpoints of a full run. Returns the trainer."""
    import transformers
    from packaging.version import Version
    from transformers import AutoTokenizer
    from trl import get_peft_config, get_quantization_config

    from reft_trl.trainers.sft_trainer import ReFTSFTTrainer, checkpoint_for_epoch

    check_model_path(model_args.model_name_or_path)
    require_rows(train_dataset, "the SFT training set")
    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args)
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        trust_remote_code=training_args.trust_remote_code,
    )

    trainer = ReFTSFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),
    )
    train_and_save(trainer, training_args)
    epoch = trainer.state.epoch
    trainer.accelerator.print(f"Model after epoch {epoch:g} saved to {training_args.output_dir}.")
    if training_args.stop_after_epoch is None:
        # The full SFT run: list the per-epoch checkpoints; the paper's warm-up is an early one (most tasks: epoch 2)
        for saved_epoch in range(1, round(epoch) + 1):
            try:
                trainer.accelerator.print(
                    f"Epoch {saved_epoch}: {checkpoint_for_epoch(training_args.output_dir, saved_epoch)}"
                )
            except FileNotFoundError:
                continue

    if Version(transformers.__version__) >= Version("5.18.0"):
        trainer.end()
    return trainer


def make_parser():
    from trl import ModelConfig, TrlParser

    from reft_trl.trainers.sft_config import ReFTSFTConfig

    return TrlParser((DataArguments, ReFTSFTConfig, ModelConfig))
