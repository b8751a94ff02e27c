"""Offline self-training baseline (Offline-ST): sample solutions from the warm-up model, keep the correct distinct ones
(at most 10 per question) beside the gold chains of thought (each twice, as the authors' set holds them), and fine-tune
the *base* model on that set.

The logic behind `examples/offline_self_training.py` and `reft-trl offline-st`. The sampled set is written to
`self_training_data` (JSON lines) before training starts and reused when the file exists, so an interrupted run does
not sample again.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field

from .data_args import DataArguments


@dataclass
class OfflineSelfTrainingArguments:
    """
    Where offline self-training samples from and what it keeps.

    warmup_model (`str` or `None`, *optional*, defaults to `None`):
        The warm-up (SFT) checkpoint to sample from (the paper: ReFT's starting checkpoint). Required unless
        `self_training_data` already exists.
    num_samples (`int`, *optional*, defaults to `100`):
        Solutions sampled per training question (the paper: 100).
    max_solutions (`int`, *optional*, defaults to `10`):
        Correct distinct samples kept per question (the paper: 10).
    sampling_temperature (`float`, *optional*, defaults to `1.0`):
        Sampling temperature (the paper: 1.0).
    sampling_top_k (`int`, *optional*, defaults to `50`):
        Top-k of the sampling; 0 turns it off. The authors' `sampling.py` sets no `top_k`, so transformers' default
        of 50 applied.
    gold_copies (`int`, *optional*, defaults to `2`):
        Rows per gold chain of thought. The authors' training file joins the gold set and the sampling results, which
        both hold each question's gold solution: 2. Set 1 to train on each gold solution once.
    sampling_max_new_tokens (`int`, *optional*, defaults to `400`):
        Completion length limit when sampling.
    sampling_batch_size (`int`, *optional*, defaults to `16`):
        Sequences per Hugging Face `generate` call (vLLM schedules its own).
    sampling_backend (`str`, *optional*, defaults to `"auto"`):
        `"auto"` (vLLM when installed), `"vllm"` or `"hf"`.
    self_training_data (`str` or `None`, *optional*, defaults to `None`):
        JSON-lines file of the built training set; default `<output_dir>/offline_self_training_data.jsonl`.
        Reused when it exists.
    """

    warmup_model: str | None = field(
        default=None, metadata={"help": "The warm-up (SFT) checkpoint to sample from (ReFT's starting checkpoint)."}
    )
    num_samples: int = field(default=100, metadata={"help": "Solutions sampled per training question (paper: 100)."})
    max_solutions: int = field(
        default=10, metadata={"help": "Correct distinct samples kept per question (paper: 10)."}
    )
    sampling_temperature: float = field(default=1.0, metadata={"help": "Sampling temperature (paper: 1.0)."})
    sampling_top_k: int = field(
        default=50, metadata={"help": "Top-k of the sampling, 0 for off (the authors: transformers' default, 50)."}
    )
    gold_copies: int = field(
        default=2, metadata={"help": "Rows per gold chain of thought (the authors' set holds each twice)."}
    )
    sampling_max_new_tokens: int = field(default=400, metadata={"help": "Completion length limit when sampling."})
    sampling_batch_size: int = field(default=16, metadata={"help": "Sequences per Hugging Face generate call."})
    sampling_backend: str = field(
        default="auto", metadata={"help": "'auto', 'vllm' or 'hf'.", "choices": ["auto", "vllm", "hf"]}
    )
    self_training_data: str | None = field(
        default=None,
        metadata={"help": "JSON-lines file of the built set (default <output_dir>/offline_self_training_data.jsonl)."},
    )


def main(script_args: DataArguments, self_training_args: OfflineSelfTrainingArguments, training_args, model_args):
    from accelerate import PartialState

    from reft_trl.preflight import check_model_path

    from .sft import train_sft

    if training_args.task is None:
        raise ValueError("Set the task: --task gsm8k | svamp | mathqa | mathqa_numeric.")
    if model_args.model_name_or_path is None:
        raise ValueError("Set the base model to fine-tune: --model_name_or_path <path> (offline self-training starts "
                         "from the base model, not from the warm-up).")  # fmt: skip
    # Both models are checked before sampling, which may take hours
    check_model_path(model_args.model_name_or_path)
    check_model_path(self_training_args.warmup_model, "warm-up model path")
    data_path = self_training_args.self_training_data or os.path.join(
        training_args.output_dir, "offline_self_training_data.jsonl"
    )
    with PartialState().main_process_first():  # the main process samples; the others read its file
        train_dataset = _self_training_set(script_args, self_training_args, training_args, data_path)
    train_sft(train_dataset, training_args, model_args)


def _self_training_set(script_args, self_training_args, training_args, data_path):
    from datasets import Dataset

    if os.path.isfile(data_path):
        dataset = Dataset.from_json(data_path)
        print(f"[offline-st] reusing {len(dataset)} training rows from {data_path}")
        return dataset
    if self_training_args.warmup_model is None:
        raise ValueError(f"{data_path} does not exist: set --warmup_model (the SFT checkpoint to sample from).")

    import torch
    from transformers import AutoTokenizer

    from reft_trl.generation import load_generation_model
    from reft_trl.trainers.offline_self_training import SOURCE_SAMPLED, build_offline_self_training_dataset

    task, cot = training_args.task, training_args.cot
    gold = script_args.load(task, cot)
    sampling = script_args.load(task, cot, for_rollouts=True)
    tokenizer = AutoTokenizer.from_pretrained(self_training_args.warmup_model, padding_side="left")
    model = load_generation_model(self_training_args.warmup_model, self_training_args.sampling_backend)
    dataset = build_offline_self_training_dataset(
        model, tokenizer, gold, task, cot, sampling_dataset=sampling, num_samples=self_training_args.num_samples,
        max_solutions=self_training_args.max_solutions, temperature=self_training_args.sampling_temperature,
        top_k=self_training_args.sampling_top_k, gold_copies=self_training_args.gold_copies,
        max_new_tokens=self_training_args.sampling_max_new_tokens, batch_size=self_training_args.sampling_batch_size,
        backend=self_training_args.sampling_backend, seed=training_args.seed,
    )  # fmt: skip
    del model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    os.makedirs(os.path.dirname(os.path.abspath(data_path)), exist_ok=True)
    dataset.to_json(data_path, lines=True)
    sampled = sum(source == SOURCE_SAMPLED for source in dataset["source"])
    print(
        f"[offline-st] {len(gold)} questions: {len(dataset) - sampled} gold and {sampled} sampled solutions "
        f"({sampled / max(len(gold), 1):.2f} per question) written to {data_path}"
    )
    return dataset


def make_parser():
    from trl import ModelConfig, TrlParser

    from reft_trl.trainers.sft_config import ReFTSFTConfig

    return TrlParser((DataArguments, OfflineSelfTrainingArguments, ReFTSFTConfig, ModelConfig))
