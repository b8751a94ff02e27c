"""`ReFTSFTTrainer`: the SFT warm-up (ReFT stage 1) on TRL's `SFTTrainer`, and `checkpoint_for_epoch`.

What comes from TRL unchanged: tokenization of prompt + completion (the completion starts where the tokenized prompt
ends, and the prompt is tokenized as the PPO stage tokenizes it), EOS appended to plain-text completions, labels of
-100 on prompt tokens, truncation, PEFT, packing and the optimisation loop. What this class adds:

- checks that the dataset has non-empty `prompt` and `completion` columns, naming the offending row;
- tokenizers without an EOS or pad token (Galactica's) get them from the model config, as the paper sets them;
- conversational datasets need a chat template whose assistant turn ends with the EOS token, or the warm-up model
  never learns to stop where the PPO rollouts stop;
- `stop_after_epoch`: stop at the paper's warm-up epoch without changing the learning-rate schedule;
- [`checkpoint_for_epoch`]: the checkpoint saved at the end of a given epoch.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

from datasets import Dataset, IterableDataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
from transformers.trainer_utils import has_length
from trl import SFTTrainer
from trl.data_utils import is_conversational

from ..preflight import check_trainer_inputs, trainer_config
from .atomic_checkpoints import AtomicCheckpointsMixin
from .paper import REFT_PAPER
from .sft_config import ReFTSFTConfig
from .tokenization import prepare_tokenizer

REQUIRED_COLUMNS = ["prompt", "completion"]
CHECKPOINT_PREFIX = "checkpoint-"


class ReFTSFTTrainer(AtomicCheckpointsMixin, SFTTrainer):
    """
    Trainer for ReFT's warm-up stage: supervised fine-tuning of a causal LM on (question, chain of thought) pairs,
    with the loss on the chain of thought and the EOS token only. An early checkpoint (epoch 2 for most tasks) is the
    starting point and the KL reference of [`ReFTPPOTrainer`].

    Args:
        model (`str` or `PreTrainedModel` or `PeftModel`):
            A local path / Hub id or an instantiated causal LM (CodeLlama, Galactica / OPT, ...).
        args ([`ReFTSFTConfig`], *optional*):
            Configuration; defaults are the paper's.
        train_dataset (`Dataset` or `IterableDataset`):
            Prompt-completion rows, e.g. `reft_trl.data.load_task("svamp", cot="ncot")`: `prompt` is
            `"Question:\\n{question}\\nAnswer reasoning:\\n"` and `completion` the chain of thought. Plain text or
            conversational (`template="chat"`). Other columns are ignored, except those that make TRL read the
            rows another way (`labels`, `input_ids`, `assistant_masks`, and a `text` column in plain-text rows),
            which are refused. A `formatting_func` is refused too: it would take the loss off the completion only.
        eval_dataset (`Dataset` or `dict[str, Dataset]`, *optional*):
            Rows in the same format, for the evaluation loss.
        processing_class (`PreTrainedTokenizerBase`, *optional*):
            Tokenizer; loaded from the model when omitted. A missing EOS or pad token is taken from the model config
            (Galactica: pad id 1, EOS id 2), the pad token falling back to EOS.
        callbacks (`list[TrainerCallback]`, *optional*):
            Extra callbacks.
        peft_config (`peft.PeftConfig`, *optional*):
            Trains an adapter instead of the full model.
        **kwargs:
            Passed on to `trl.SFTTrainer`: `data_collator`, `optimizers`, `compute_metrics`, `quantization_config`...

    Example:

    ```python
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from reft_trl import ReFTSFTConfig, ReFTSFTTrainer, checkpoint_for_epoch
    from reft_trl.data import load_task

    args = ReFTSFTConfig(output_dir="sft-svamp", task="svamp", cot="ncot")
    trainer = ReFTSFTTrainer(
        model="path/to/galactica-125m", args=args, train_dataset=load_task("svamp", cot="ncot", split="train")
    )
    trainer.train()
    warmup = checkpoint_for_epoch("sft-svamp", 2)  # "sft-svamp/checkpoint-<step>": ReFT's starting policy
    ```
    """

    _tag_names = ["trl", "reft", "sft"]
    _name = "ReFT-SFT"
    _paper = REFT_PAPER

    def __init__(
        self,
        model: str | PreTrainedModel,
        args: ReFTSFTConfig | None = None,
        train_dataset: Dataset | IterableDataset | None = None,
        eval_dataset: Dataset | dict[str, Dataset] | None = None,
        processing_class: PreTrainedTokenizerBase | None = None,
        callbacks: list[TrainerCallback] | None = None,
        peft_config=None,
        **kwargs,
    ):
        check_trainer_inputs(model, train_dataset)
        args = trainer_config(args, ReFTSFTConfig, "reft-sft")
        if kwargs.get("formatting_func") is not None:
            raise ValueError(
                "formatting_func turns each row into one text, so the loss would no longer be on the completion only. "
                "Format the `prompt` and `completion` columns instead (`dataset.map(...)`)."
            )

        # Data
        if train_dataset is None:
            raise ValueError("`train_dataset` is required, e.g. reft_trl.data.load_task(task, cot, split='train').")
        _check_prompt_completion(train_dataset, "train_dataset", args.dataset_text_field)
        eval_datasets = eval_dataset if isinstance(eval_dataset, dict) else {"eval_dataset": eval_dataset}
        for name, dataset in eval_datasets.items():
            if dataset is not None:
                _check_prompt_completion(dataset, name, args.dataset_text_field)

        # Tokenizer
        # TRL appends `tokenizer.eos_token` to every completion as text, so it must exist before TRL sees the data
        processing_class = prepare_tokenizer(
            processing_class,
            model,
            eos_token=args.eos_token,
            trust_remote_code=args.trust_remote_code,
            revision=(args.model_init_kwargs or {}).get("revision"),
            config_name=type(args).__name__,
        )
        first_row = next(iter(train_dataset))
        conversational = is_conversational(first_row)
        if conversational and args.chat_template_path is None:
            _check_chat_template_ends_with_eos(processing_class, first_row, args.eos_token)

        # Warm-up: stop at the paper's epoch, on the full run's learning-rate schedule
        callbacks = list(callbacks or [])
        if args.stop_after_epoch is not None:
            callbacks.append(StopAfterEpochCallback(args.stop_after_epoch))

        super().__init__(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            callbacks=callbacks,
            peft_config=peft_config,
            **kwargs,
        )
        if conversational and args.chat_template_path is not None:
            # The template TRL installed from that path, with the EOS TRL set: `eos_token`, or, when the path names a
            # tokenizer (`clone_chat_template`), that tokenizer's EOS
            from_file = args.chat_template_path.endswith((".jinja", ".j2"))
            _check_chat_template_ends_with_eos(
                self.processing_class,
                first_row,
                None,
                fix=None if from_file else "Use a chat_template_path whose tokenizer's EOS ends the assistant turn",
            )


class StopAfterEpochCallback(TrainerCallback):
    """Stop training at the end of epoch `epoch` (with `save_strategy="epoch"`, the default, that epoch's checkpoint
    is still saved)."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
        """Warn when `max_steps` ends training before the epoch: no checkpoint will end it (a short run's `max_steps`
        is not an error)."""
        if args.max_steps <= 0:
            return
        if not has_length(train_dataloader):
            warnings.warn(
                f"stop_after_epoch={self.epoch} counts passes over the data, which a dataset of unknown length does not "
                f"have: training runs max_steps={state.max_steps} optimizer steps.",
                stacklevel=2,
            )
            return
        steps_per_epoch = max(math.ceil(len(train_dataloader) / args.gradient_accumulation_steps), 1)
        if state.max_steps < self.epoch * steps_per_epoch:
            warnings.warn(
                f"stop_after_epoch={self.epoch} is not reached: max_steps={state.max_steps} ends training at epoch "
                f"{state.max_steps / steps_per_epoch:.2f} ({steps_per_epoch} optimizer steps per epoch), so no "
                f"checkpoint ends epoch {self.epoch}. Set max_steps to at least {self.epoch * steps_per_epoch}, or "
                "stop_after_epoch=None for a short run.",
                stacklevel=2,
            )

    def on_epoch_end(self, args, state, control, **kwargs):
        if state.epoch is not None and round(state.epoch) >= self.epoch:
            control.should_training_stop = True
        return control


def checkpoint_for_epoch(output_dir: str | Path, epoch: int) -> str:
    """Path of the checkpoint saved at the end of `epoch` under `output_dir`, read from its `trainer_state.json`.

    Checkpoints are named by optimisation step (`checkpoint-<step>`); the epoch of each is recorded in its trainer
    state. ReFT's PPO stage starts from an early one (epoch 2 for most tasks).

    Raises:
        FileNotFoundError: when no checkpoint ends that epoch; the message lists the epochs that have one.
    """
    found = {}
    for state_file in Path(output_dir).glob(f"{CHECKPOINT_PREFIX}*/trainer_state.json"):
        saved_epoch = json.loads(state_file.read_text()).get("epoch")
        if saved_epoch is not None:
            found[state_file.parent] = saved_epoch
    for path, saved_epoch in sorted(found.items(), key=lambda item: item[1]):
        if math.isclose(saved_epoch, epoch, abs_tol=1e-4):
            return str(path)
    available = ", ".join(f"{e:g}" for e in sorted(found.values())) or "none"
    raise FileNotFoundError(
        f"No checkpoint in {output_dir} ends epoch {epoch} (checkpoints end epochs: {available}). Train with "
        "save_strategy='epoch' and a save_total_limit (or none) that keeps this epoch."
    )


def _check_prompt_completion(dataset, name: str, text_field: str = "text") -> None:
    """Require `prompt` and `completion` columns with no missing or empty value, and none of the columns that make TRL
    read the rows another way (`_COLUMNS_TRL_READS`); name the first bad row."""
    columns = dataset.column_names or list(next(iter(dataset)))  # an IterableDataset may not know its columns
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise ValueError(
            f"{name} has no {' or '.join(map(repr, missing))} column (columns: {', '.join(columns)}). The ReFT "
            "warm-up trains on prompt-completion rows, e.g. reft_trl.data.load_task(task, cot, split='train')."
        )
    read_otherwise = dict(_COLUMNS_TRL_READS)
    if not is_conversational(next(iter(dataset))):  # TRL appends the EOS as text to non-conversational rows only
        read_otherwise[text_field] = (
            f"TRL's SFT would append the EOS to it (dataset_text_field={text_field!r}), not to the completion, so the "
            "model would not learn to stop"
        )
    for column, why in read_otherwise.items():
        if column in columns and column not in REQUIRED_COLUMNS:
            raise ValueError(
                f"{name} has a {column!r} column: {why}. Drop it (`dataset.remove_columns([{column!r}])`)"
                + (" or set dataset_text_field to a name no column has." if column == text_field else ".")
            )
    # An IterableDataset is checked on its first row only: reading it all would consume a stream.
    rows = [next(iter(dataset))] if isinstance(dataset, IterableDataset) else dataset.select_columns(REQUIRED_COLUMNS)
    for index, row in enumerate(rows):
        for column in REQUIRED_COLUMNS:
            if not row[column]:
                item_id = dataset[index].get("item_id") if isinstance(dataset, Dataset) else None
                where = f"row {index}" + (f" (item_id {item_id!r})" if item_id is not None else "")
                hint = " The ReFT test sets carry no chain of thought: train on split='train'."
                raise ValueError(
                    f"{name} {where} has no {column!r} (value {row[column]!r}); drop or fill such rows before "
                    f"training.{hint if column == 'completion' else ''}"
                )


_COLUMNS_TRL_READS = {
    "input_ids": "TRL's SFT would take the rows as already tokenized, with no EOS and no completion-only loss",
    "labels": "TRL's SFT would train on those labels as given, not on the completion only",
    "assistant_masks": "TRL's SFT would mask the labels with it, a mask made for other tokens",
}
"""Columns that make TRL's SFT read prompt-completion rows another way."""


def _check_chat_template_ends_with_eos(tokenizer, row, eos_token: str | None, fix: str | None = None) -> None:
    """Conversational rows: the chat template must exist and put the EOS token inside the assistant turn (`fix`: the
    advice in the error, when setting `eos_token` would not help)."""
    if tokenizer.chat_template is None:
        raise ValueError(
            "The dataset is conversational but the tokenizer has no chat template. Load the data with "
            "template='reft' (plain text), or set `chat_template_path` in ReFTSFTConfig."
        )
    eos_token = eos_token or tokenizer.eos_token
    prompt_ids = tokenizer.apply_chat_template(
        row["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    full_ids = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=True, return_dict=True)
    completion_ids = full_ids["input_ids"][len(prompt_ids["input_ids"]) :]
    if tokenizer.convert_tokens_to_ids(eos_token) not in completion_ids:
        raise ValueError(
            f"The chat template does not end the assistant turn with the EOS token {eos_token!r}, so the model would "
            "not learn to stop where generation stops. "
            + (fix or "Set `eos_token` in ReFTSFTConfig to the template's end-of-turn token")
            + ", or load the data with template='reft'."
        )
