"""`DataArguments`: where a training stage's questions come from, shared by the SFT, PPO and GRPO commands."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DataArguments:
    """
    Where the training questions come from. The task and chain-of-thought kind are `--task` / `--cot` of the stage.

    dataset_source (`str` or `None`, *optional*, defaults to `None`):
        Data source: `None` for the bundled default, `"reft"`, `"original"`, `"hub"`, or the path / URL of a
        ReFT-format JSON or JSON-lines file.
    dataset_split (`str`, *optional*, defaults to `"train"`):
        Split to train on.
    train_limit (`int` or `None`, *optional*, defaults to `None`):
        Train on the first `train_limit` questions only.
    template (`str`, *optional*, defaults to `"reft"`):
        `"reft"` for the paper's plain-text prompt, `"chat"` for the same text in the tokenizer's chat template.
    skip_bad_rows (`bool`, *optional*, defaults to `False`):
        Skip malformed data rows (and say how many) instead of failing on the first.
    """

    dataset_source: str | None = field(
        default=None,
        metadata={
            "help": "Data source: None for the bundled default, 'reft', 'original', 'hub', or the path / URL of a "
            "ReFT-format JSON or JSON-lines file."
        },
    )
    dataset_split: str = field(default="train", metadata={"help": "Split to train on."})
    train_limit: int | None = field(default=None, metadata={"help": "Train on the first N questions only."})
    template: str = field(
        default="reft",
        metadata={
            "help": "'reft' (the paper's plain-text prompt) or 'chat' (the tokenizer's chat template).",
            "choices": ["reft", "chat"],
        },
    )
    skip_bad_rows: bool = field(default=False, metadata={"help": "Skip malformed data rows instead of failing."})

    def load(self, task: str, cot: str, *, for_rollouts: bool = False):
        """The training questions; `for_rollouts` puts the P-CoT program opening in the prompt, as the paper samples."""
        from reft_trl.data import load_task

        return load_task(
            task,
            cot=cot,
            split=self.dataset_split,
            source=self.dataset_source,
            template=self.template,
            limit=self.train_limit,
            skip_bad_rows=self.skip_bad_rows,
            program_prefix_in_prompt=for_rollouts and cot == "pcot",
        )


def train_and_save(trainer, training_args) -> None:
    """`trainer.train()` then `save_model` to `output_dir`. `--resume_from_checkpoint true` resumes from the last
    complete checkpoint (one cut short by a killed save is skipped with a warning); a full disk is said as such.

    Each logging step prints one line of chosen metrics (`console.CompactLog`) in place of transformers' full dict,
    which stays in `trainer_state.json` and goes to the `report_to` trackers as before."""
    from reft_trl.trainers.checkpoints import disk_full_explained, resume_checkpoint_of

    from .console import columns_for, use_compact_log

    use_compact_log(trainer, columns_for(trainer))
    resume = resume_checkpoint_of(trainer, training_args.resume_from_checkpoint)
    with disk_full_explained(training_args.output_dir):
        trainer.train(resume_from_checkpoint=resume)
        trainer.save_model(training_args.output_dir)


def model_init_kwargs(model_args, training_args) -> dict:
    """`from_pretrained` keyword arguments from TRL's `ModelConfig`, updated by the config's `model_init_kwargs`."""
    kwargs = dict(
        revision=model_args.model_revision,
        trust_remote_code=training_args.trust_remote_code,
        attn_implementation=model_args.attn_implementation,
        dtype=model_args.dtype,
    )
    kwargs.update(training_args.model_init_kwargs or {})
    return kwargs
