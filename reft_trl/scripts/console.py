"""What a training command prints: stage headers, one compact line per logging step, sizes on disk.

transformers prints each logging step's full metrics dict (some 30 entries for PPO). `CompactLog` keeps the training
bar and prints a few chosen metrics instead; the full dict stays in `trainer.state.log_history`.
"""

from __future__ import annotations

import contextlib
import os
import time

from transformers import PrinterCallback, ProgressCallback

SFT_COLUMNS = (
    ("loss", "loss", "{:.3f}"),
    ("mean_token_accuracy", "token accuracy", "{:.1%}"),
    ("learning_rate", "lr", "{:.1e}"),
)
PPO_COLUMNS = (
    ("reward", "reward", "{:+.3f}"),
    ("answer_match/accuracy", "accuracy", "{:.1%}"),
    ("objective/kl", "KL/seq", "{:+.4f}"),
    ("losses/value_loss", "value loss", "{:.4f}"),
    ("completions/clipped_ratio", "truncated", "{:.0%}"),
)
GRPO_COLUMNS = (
    ("reward", "reward", "{:+.3f}"),
    ("answer_match/accuracy", "accuracy", "{:.1%}"),
    ("kl", "KL/token", "{:+.4f}"),
    ("entropy", "entropy", "{:.3f}"),
    ("completions/clipped_ratio", "truncated", "{:.0%}"),
)
SELF_TRAINING_COLUMNS = (
    ("answer_match/accuracy", "accuracy", "{:.1%}"),
    ("self_training/kept_fraction", "kept", "{:.0%}"),
    ("losses/sampled_ce", "sampled CE", "{:.3f}"),
    ("losses/gold_ce", "gold CE", "{:.3f}"),
    ("completions/clipped_ratio", "truncated", "{:.0%}"),
)
"""(log key, label, format) of the metrics on each compact line; keys a step did not log are left out."""


def stage(number: int, total: int, text: str) -> None:
    print(f"\n[{number}/{total}] {text}", flush=True)


def compact_line(logs: dict, step: int, max_steps: int, columns, seconds_per_step: float | None) -> str:
    """One logging step as `step  4/12  reward +0.213  accuracy 18.8%  ...  31.2 s/step`.

    >>> compact_line({"loss": 1.23456, "learning_rate": 5e-05}, 5, 24, SFT_COLUMNS, 20.04)
    'step  5/24  loss 1.235  lr 5.0e-05  20.0 s/step'
    """
    width = len(str(max_steps))
    parts = [f"step {step:>{width}}/{max_steps}"]
    parts += [f"{label} {fmt.format(logs[key])}" for key, label, fmt in columns if logs.get(key) is not None]
    if seconds_per_step is not None:
        parts.append(f"{seconds_per_step:.1f} s/step")
    return "  ".join(parts)


class CompactLog(ProgressCallback):
    """transformers' training bar with one compact line per logging step in place of the metrics dict."""

    def __init__(self, columns):
        super().__init__()
        self.columns = columns
        self.last = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not args.disable_tqdm:
            super().on_train_begin(args, state, control, **kwargs)
        self.last = (time.perf_counter(), state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.training_bar is not None:
            super().on_step_end(args, state, control, **kwargs)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        now = time.perf_counter()
        if "train_runtime" in logs:  # the closing summary of `train()`
            line = f"done: {state.global_step} steps in {logs['train_runtime']:.0f} s"
        elif any(key.startswith("eval_") for key in logs):  # an evaluation: its metrics carry the `eval_` prefix
            metrics = {key[len("eval_") :]: value for key, value in logs.items() if key.startswith("eval_")}
            columns = [column for column in self.columns if column[0] in metrics]
            if "loss" in metrics and not any(key == "loss" for key, _, _ in columns):
                columns.insert(0, ("loss", "loss", "{:.3f}"))
            line = "eval " + compact_line(metrics, state.global_step, state.max_steps, columns, None)
        else:
            last_time, last_step = self.last or (now, state.global_step)
            steps = state.global_step - last_step
            per_step = (now - last_time) / steps if steps > 0 else None
            line = compact_line(logs, state.global_step, state.max_steps, self.columns, per_step)
            self.last = (now, state.global_step)
        if self.training_bar is not None:
            self.training_bar.write(line)
        else:
            print(line, flush=True)

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        if not args.disable_tqdm:
            super().on_prediction_step(args, state, control, eval_dataloader=eval_dataloader, **kwargs)

    def on_train_end(self, args, state, control, **kwargs):
        if self.training_bar is not None:
            super().on_train_end(args, state, control, **kwargs)


def columns_for(trainer) -> tuple:
    """The compact line's metrics for a trainer: SFT, ReFT's PPO, online self-training, or (any other) GRPO."""
    from trl import SFTTrainer

    from reft_trl.trainers.online_self_training_trainer import OnlineSelfTrainingTrainer
    from reft_trl.trainers.ppo_trainer import ReFTPPOTrainer

    if isinstance(trainer, SFTTrainer):
        return SFT_COLUMNS
    if isinstance(trainer, ReFTPPOTrainer):
        return PPO_COLUMNS
    if isinstance(trainer, OnlineSelfTrainingTrainer):
        return SELF_TRAINING_COLUMNS
    return GRPO_COLUMNS


def use_compact_log(trainer, columns) -> None:
    """Replace the trainer's progress / printer callback, which prints every metric, with `CompactLog`."""
    for callback in list(trainer.callback_handler.callbacks):
        if isinstance(callback, (ProgressCallback, PrinterCallback)) or type(callback).__name__.startswith("Notebook"):
            trainer.remove_callback(callback)
    trainer.add_callback(CompactLog(columns))


@contextlib.contextmanager
def quiet_loading():
    """No progress bars for loading weights and preparing datasets (they take a second and fill the screen)."""
    import datasets
    from transformers.utils import logging

    datasets_bars, transformers_bars = datasets.is_progress_bar_enabled(), logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if datasets_bars:
            datasets.enable_progress_bars()
        if transformers_bars:
            logging.enable_progress_bar()


def folder_size(path: str) -> int:
    """Bytes of the files under `path` (0 when it does not exist)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(path) for name in names)


def human_size(size: float) -> str:
    """
    >>> human_size(538_000_000), human_size(1_076_000_000), human_size(2048)
    ('538 MB', '1.1 GB', '2 kB')
    """
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
