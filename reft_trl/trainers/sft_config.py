"""`ReFTSFTConfig`: the SFT warm-up (ReFT stage 1) as the paper runs it, on top of TRL's `SFTConfig`."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import SFTConfig

from reft_trl.data import COTS, TASKS

from ..precision import resolve_device_and_precision
from .config_checks import check_field


@dataclass
class ReFTSFTConfig(SFTConfig):
    r"""
    Configuration class for [`ReFTSFTTrainer`]: supervised fine-tuning on (question, chain of thought) pairs, the
    warm-up stage of "ReFT: Reasoning with Reinforced Fine-Tuning" (Luong et al., ACL 2024). Defaults are the paper's
    (its `train_sft_model.py` and `exps/paper_exps/SFT/_template.sh`); TRL's `SFTConfig` supplies everything else
    (PEFT, packing, DeepSpeed, logging).

    The paper runs one 40-epoch SFT schedule (linear decay, warm-up over its first 10% of steps), saves a checkpoint
    per epoch, and starts reinforcement learning from an early one: epoch 2 for GSM8K, SVAMP and every P-CoT run,
    epoch 5 for MathQA N-CoT, epoch 10 for MathQA-numeric (`global_step_*_epoch_N` in its
    `exps/paper_exps/ReFT/*.sh`). The warm-up model is therefore taken while the learning rate is still rising.
    `stop_after_epoch` reproduces that schedule and stops there, so the warm-up costs 2 epochs rather than 40; set
    `stop_after_epoch=None` for the full 40-epoch SFT baseline, and pick its early checkpoints with
    [`checkpoint_for_epoch`]. TRL appends the EOS token to every plain-text completion; with conversational data
    (`template="chat"`) the chat template ends the assistant turn instead.

    Example:

    ```python
    >>> from reft_trl import ReFTSFTConfig
    >>> args = ReFTSFTConfig(output_dir="sft-svamp", task="svamp", use_cpu=True, report_to="none")
    >>> args.learning_rate, args.num_train_epochs, args.stop_after_epoch, args.save_strategy.value
    (1e-05, 40.0, 2, 'epoch')

    ```

    > Parameters that control the task

    task (`str` or `None`, *optional*, defaults to `None`):
        Task whose training set the example script loads: `"gsm8k"`, `"svamp"`, `"mathqa"` or `"mathqa_numeric"`.
        The trainer itself reads only the dataset it is given.
    cot (`str`, *optional*, defaults to `"ncot"`):
        Chain-of-thought kind: `"ncot"` (natural language, ending `Therefore, the answer is: {answer}`) or `"pcot"`
        (a Python program).

    > Parameters that control the warm-up

    stop_after_epoch (`int` or `None`, *optional*, defaults to `2`):
        Stop training at the end of this epoch, keeping the learning-rate schedule of the full `num_train_epochs` run.
        The paper's warm-up checkpoint is epoch 2 of its 40-epoch SFT run for most tasks (MathQA N-CoT: 5,
        MathQA-numeric: 10). `None` trains all `num_train_epochs`.

    > Defaults changed from `SFTConfig` to the paper's values

    learning_rate (`float`, *optional*, defaults to `1e-5`):
        Peak learning rate (`learning_rate="1e-5"` in the paper's SFT template).
    lr_scheduler_type (`str`, *optional*, defaults to `"linear"`):
        Learning-rate schedule (the paper's `get_linear_schedule_with_warmup`).
    warmup_steps (`float`, *optional*, defaults to `0.1`):
        Linear warm-up; a value below 1 is a fraction of all training steps (the paper: `0.1 * num_training_steps`).
    num_train_epochs (`float`, *optional*, defaults to `40.0`):
        Epochs of the schedule (`n_epochs='40'` in the paper's `exps/paper_exps/SFT/*.sh`).
    per_device_train_batch_size (`int`, *optional*, defaults to `3`):
        Batch size per device (the paper: 3 per GPU, with 2 accumulation steps on 8 GPUs: 48 per step).
    gradient_accumulation_steps (`int`, *optional*, defaults to `2`):
        Gradient accumulation steps (the paper's SFT template).
    max_length (`int` or `None`, *optional*, defaults to `1024`):
        Maximum tokens of prompt + completion + EOS; longer sequences keep their start (`max_input_length="1024"`).
    completion_only_loss (`bool` or `None`, *optional*, defaults to `True`):
        Compute the loss on the completion (and EOS) only: prompt tokens get label -100, as in the paper's code.
    save_strategy (`str`, *optional*, defaults to `"epoch"`):
        Save a checkpoint at the end of every epoch (the paper's `saving_epoch_freq="1"`), so the warm-up epoch can
        be picked afterwards with [`checkpoint_for_epoch`].
    save_only_model (`bool`, *optional*, defaults to `True`):
        Save only the model and tokenizer in each checkpoint, not the optimizer state (as the paper's `do_checkpoint`;
        40 epochs of optimizer state would be large). Set `False` to resume training from a checkpoint.
    """

    task: str | None = field(
        default=None,
        metadata={
            "help": "Task whose training set the example script loads: 'gsm8k', 'svamp', 'mathqa' or 'mathqa_numeric'."
        },
    )
    cot: str = field(
        default="ncot",
        metadata={"help": "Chain-of-thought kind: 'ncot' (natural language) or 'pcot' (a Python program)."},
    )
    stop_after_epoch: int | None = field(
        default=2,
        metadata={
            "help": "Stop at the end of this epoch, keeping the schedule of the full `num_train_epochs` run (the "
            "paper's warm-up checkpoint is epoch 2 of 40 for most tasks). None trains all epochs."
        },
    )

    # Defaults changed from SFTConfig
    learning_rate: float = field(default=1e-5, metadata={"help": "Peak learning rate (the paper: 1e-5)."})
    lr_scheduler_type: str = field(default="linear", metadata={"help": "Learning-rate schedule (the paper: linear)."})
    warmup_steps: float = field(
        default=0.1,
        metadata={"help": "Linear warm-up; below 1 it is a fraction of all training steps (the paper: 0.1)."},
    )
    num_train_epochs: float = field(
        default=40.0, metadata={"help": "Epochs of the schedule (the paper's SFT runs: 40)."}
    )
    per_device_train_batch_size: int = field(
        default=3, metadata={"help": "Batch size per device (the paper: 3 per GPU x 2 accumulation x 8 GPUs = 48)."}
    )
    gradient_accumulation_steps: int = field(
        default=2, metadata={"help": "Gradient accumulation steps (the paper: 2)."}
    )
    max_length: int | None = field(
        default=1024,
        metadata={"help": "Maximum tokens of prompt + completion + EOS; longer ones keep their start (paper: 1024)."},
    )
    completion_only_loss: bool | None = field(
        default=True,
        metadata={"help": "Compute the loss on the completion (and EOS) only; prompt tokens get label -100."},
    )
    save_strategy: str = field(
        default="epoch",
        metadata={"help": "Checkpoint at the end of every epoch, so the warm-up epoch can be picked afterwards."},
    )
    save_only_model: bool = field(
        default=True,
        metadata={"help": "Save only model and tokenizer per checkpoint (no optimizer state); False to resume."},
    )

    def __post_init__(self):
        resolve_device_and_precision(self)
        if self.task is not None and self.task not in TASKS:
            raise ValueError(f"task={self.task!r}; valid tasks: {', '.join(TASKS)} (or None).")
        if self.cot not in COTS:
            raise ValueError(f"cot={self.cot!r}; valid kinds: {', '.join(COTS)}.")
        if self.completion_only_loss is False:
            raise ValueError(
                "completion_only_loss=False would train on the question too; the ReFT warm-up learns only the chain "
                "of thought. Leave completion_only_loss at True."
            )
        if self.dataset_text_field == "prompt":
            raise ValueError(
                "dataset_text_field='prompt': TRL's SFT appends the EOS to that column, here the prompt, not the "
                "completion. Leave dataset_text_field at 'text'."
            )
        check_field(self, "learning_rate", minimum=0)
        check_field(self, "warmup_steps", minimum=0)
        check_field(self, "num_train_epochs", above=0)
        check_field(self, "max_grad_norm", minimum=0)
        for name in ("per_device_train_batch_size", "gradient_accumulation_steps"):
            check_field(self, name, minimum=1, integer=True)
        check_field(self, "max_length", minimum=1, integer=True, optional=True)
        if self.stop_after_epoch is not None:
            if isinstance(self.stop_after_epoch, bool) or self.stop_after_epoch < 1:
                raise ValueError(
                    f"stop_after_epoch={self.stop_after_epoch!r}: give a whole epoch >= 1, or None to train all "
                    "epochs."
                )
            if self.max_steps <= 0 and self.stop_after_epoch > self.num_train_epochs:
                raise ValueError(
                    f"stop_after_epoch={self.stop_after_epoch} is beyond num_train_epochs={self.num_train_epochs}; "
                    "lower stop_after_epoch or raise num_train_epochs."
                )
        super().__post_init__()  # turns a JSON string from the command line into the dataset_kwargs dict
        if isinstance(self.dataset_kwargs, dict) and self.dataset_kwargs.get("skip_prepare_dataset"):
            raise ValueError(
                "dataset_kwargs={'skip_prepare_dataset': True} would train on the rows as given, with no EOS and no "
                "completion-only loss; ReFTSFTTrainer trains on prompt-completion rows that TRL prepares. Leave it "
                "unset (pre-tokenized data belongs to TRL's SFTTrainer)."
            )
