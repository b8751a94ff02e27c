"""Verifier reranking, as in the paper: a 2-class classifier of (question, solution) pairs picks one of k samples.

The recipe (Luong et al., 2024; the authors' `train_reward_model.py`): sample solutions to the TRAINING questions from
the warm-up model, label each by the answer reward (correct when the reward is 1.0), train a sequence classifier
initialised from the SFT checkpoint with 2-class cross-entropy on `prompt + completion`, and at test time keep, of
each question's k samples with an extractable answer, the one with the highest P(correct).

>>> train = collect_verifier_data(sft_model, tokenizer, load_task("gsm8k", split="train"), "gsm8k")  # doctest: +SKIP
>>> verifier = train_verifier("path/to/sft", tokenizer, train, VerifierConfig(output_dir="verifier"))  # doctest: +SKIP
>>> score_candidates(verifier, tokenizer, prompt, ["...answer is: 18", "...answer is: 7"])  # doctest: +SKIP
[0.91, 0.12]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from datasets import Dataset
from transformers import TrainingArguments

from reft_trl.generation import DEFAULT_BATCH_SIZE, DEFAULT_MAX_NEW_TOKENS, encode_prompt
from reft_trl.rewards.answer_match import CORRECT_REWARD

from .metrics import PAPER_VOTING_SAMPLES, rerank_accuracy, rerank_choice

__all__ = [
    "VerifierConfig",
    "VerifierScorer",
    "build_verifier_dataset",
    "collect_verifier_data",
    "rerank_accuracy",
    "rerank_choice",
    "score_candidates",
    "train_verifier",
]

CORRECT_LABEL = 1
"""Class 1 of the verifier is "correct": its softmax probability is the reranking score."""
VERIFIER_MAX_LENGTH = 700
"""Tokens of prompt + completion the verifier reads (`max_input_length="700"` in the paper's reranking template)."""

Scorer = Callable[[object, Sequence[str]], list[float]]
"""`scorer(prompt, completions) -> scores`, higher meaning more likely correct."""


@dataclass
class VerifierConfig(TrainingArguments):
    r"""
    Training arguments of the reranking verifier, defaulting to the paper's (`exps/paper_exps/Rerank/_template.sh`
    and `train_reward_model.py` of the authors' code). Everything else is `transformers.TrainingArguments`.

    Example:

    ```python
    >>> args = VerifierConfig(output_dir="verifier-gsm8k", use_cpu=True)
    >>> args.learning_rate, args.num_train_epochs, args.max_length
    (1e-06, 3.0, 700)

    ```

    > Parameters that control the verifier's data

    max_length (`int`, *optional*, defaults to `700`):
        Tokens of prompt + completion kept per example; longer ones keep their start (`max_input_length="700"`).
    deduplicate (`bool`, *optional*, defaults to `True`):
        Keep one copy of a completion sampled several times for the same prompt, as the paper's code does.

    > Defaults changed from `TrainingArguments` to the paper's values

    learning_rate (`float`, *optional*, defaults to `1e-6`):
        Peak learning rate (`learning_rate="1e-6"`).
    num_train_epochs (`float`, *optional*, defaults to `3.0`):
        Training epochs (the paper trains its verifiers for 3 epochs).
    per_device_train_batch_size (`int`, *optional*, defaults to `3`):
        Batch size per device (`batch_size="3"` per GPU, on 8 GPUs).
    warmup_steps (`float`, *optional*, defaults to `0.1`):
        Linear warm-up; below 1 a fraction of all training steps (the paper's code: `int(0.1 * num_training_steps)`).
    logging_steps (`float`, *optional*, defaults to `10`):
        Log the loss every 10 steps (`logging_step_freq="10"`).
    save_strategy (`str`, *optional*, defaults to `"no"`):
        No intermediate checkpoints (`keep_num_ckpt='0'`); `train_verifier` saves the final model to `output_dir`.
    """

    max_length: int = field(
        default=VERIFIER_MAX_LENGTH,
        metadata={
            "help": "Tokens of prompt + completion kept per example; longer ones keep their start (paper: 700)."
        },
    )
    deduplicate: bool = field(
        default=True,
        metadata={
            "help": "Keep one copy of a completion sampled several times for the same prompt (the paper's code)."
        },
    )

    # Defaults changed from TrainingArguments
    learning_rate: float = field(default=1e-6, metadata={"help": "Peak learning rate (the paper: 1e-6)."})
    num_train_epochs: float = field(default=3.0, metadata={"help": "Training epochs (the paper: 3)."})
    per_device_train_batch_size: int = field(
        default=3, metadata={"help": "Batch size per device (the paper: 3 per GPU on 8 GPUs)."}
    )
    warmup_steps: float = field(
        default=0.1,
        metadata={"help": "Linear warm-up; below 1 it is a fraction of all training steps (the paper: 0.1)."},
    )
    logging_steps: float = field(default=10, metadata={"help": "Log every N steps (the paper: 10)."})
    save_strategy: str = field(
        default="no",
        metadata={"help": "No intermediate checkpoints (the paper keeps none); the final model goes to output_dir."},
    )

    def __post_init__(self):
        if self.max_length < 1:
            raise ValueError(f"max_length={self.max_length}; it must be at least 1 token.")
        super().__post_init__()


def build_verifier_dataset(
    prompts: Sequence, completions: Sequence[str], labels: Sequence, deduplicate: bool = True
) -> Dataset:
    """Verifier training rows `{prompt, completion, label}`; a label is 1 when it equals 1 (True, or the reward 1.0).

    With `deduplicate`, a completion repeated for the same prompt is kept once (its first label).

    >>> rows = build_verifier_dataset(["Q1", "Q1", "Q1"], ["x = 18", "x = 18", "x = 7"], [1.0, 1.0, 0.1])
    >>> rows.to_dict()["completion"], rows.to_dict()["label"]
    (['x = 18', 'x = 7'], [1, 0])
    """
    rows, seen = [], set()
    for prompt, completion, label in zip(prompts, completions, labels, strict=True):
        key = (repr(prompt), completion)
        if deduplicate and key in seen:
            continue
        seen.add(key)
        rows.append({"prompt": prompt, "completion": completion, "label": int(label == CORRECT_REWARD)})
    return Dataset.from_list(rows)


def collect_verifier_data(
    model,
    tokenizer,
    dataset: Dataset,
    task: str,
    cot: str = "ncot",
    *,
    num_samples: int = PAPER_VOTING_SAMPLES,
    temperature: float = 1.0,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    backend: str = "auto",
    reward_func: Callable | None = None,
    deduplicate: bool = True,
    seed: int | None = 42,
    show_progress: bool = True,
) -> Dataset:
    """Sample `num_samples` completions per question of `dataset` (the training split) and label them by the reward.

    Args:
        model: the warm-up (SFT) model, or its path.
        tokenizer: its tokenizer.
        dataset: rows with `prompt` and `answer` (and `question` for MathQA options), e.g. `load_task(task, cot,
            split="train", program_prefix_in_prompt=cot == "pcot")`.
        task: the task, for the default reward.
        cot: "ncot" or "pcot".
        num_samples: completions per question, sampled at `temperature`.
        temperature: sampling temperature.
        max_new_tokens: completion length limit.
        batch_size: sequences per Hugging Face `generate` call.
        backend: "auto", "vllm" or "hf".
        reward_func: a TRL reward function; default `get_reward(task, cot)` (correct when it returns 1.0).
        deduplicate: keep one copy of repeated completions per prompt.
        seed: random seed of the sampling (None: leave the random state as it is).
        show_progress: show a progress bar.
    """
    from reft_trl.sampling import sample_and_score

    scored = sample_and_score(
        model, tokenizer, dataset, task, cot, num_samples=num_samples, temperature=temperature,
        max_new_tokens=max_new_tokens, batch_size=batch_size, backend=backend, reward_func=reward_func, seed=seed,
        show_progress=show_progress,
    )  # fmt: skip
    return build_verifier_dataset(
        [prompt for prompt, texts in zip(scored.prompts, scored.completions, strict=True) for _ in texts],
        [text for texts in scored.completions for text in texts],
        [reward for rewards in scored.rewards for reward in rewards],
        deduplicate=deduplicate,
    )


def train_verifier(model_or_path, tokenizer, train_dataset: Dataset, args: VerifierConfig | None = None, **kwargs):
    """Train a 2-class verifier on `{prompt, completion, label}` rows and return it (saved to `args.output_dir`).

    Args:
        model_or_path: the SFT checkpoint's path (loaded with `AutoModelForSequenceClassification`, 2 labels, a new
            classification head), or a sequence-classification model with 2 labels.
        tokenizer: the checkpoint's tokenizer; one without a pad token pads with EOS.
        train_dataset: rows from `build_verifier_dataset` or `collect_verifier_data`.
        args: training arguments; the paper's defaults when None.
        **kwargs: passed on to `transformers.Trainer` (`eval_dataset`, `callbacks`, ...).
    """
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer

    args = args or VerifierConfig()
    model = model_or_path
    if isinstance(model_or_path, str):
        model = AutoModelForSequenceClassification.from_pretrained(model_or_path, num_labels=2)
    if model.config.num_labels != 2:
        raise ValueError(f"The verifier needs 2 labels (wrong, correct); the model has {model.config.num_labels}.")
    _set_pad_token(model, tokenizer)

    def tokenize(row):
        input_ids = encode_prompt(tokenizer, row["prompt"], row["completion"])[: args.max_length]
        return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": row["label"]}

    tokenized = train_dataset.map(tokenize, remove_columns=train_dataset.column_names, desc="Tokenizing")
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=tokenized,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        **kwargs,
    )
    trainer.train()
    if args.output_dir is not None:
        trainer.save_model(args.output_dir)
    return trainer.model


def score_candidates(
    verifier, tokenizer, prompt, completions: Sequence[str], batch_size: int = 8, max_length: int = VERIFIER_MAX_LENGTH
) -> list[float]:
    """The verifier's P(correct) of each completion to `prompt` (plain text or a conversation), in [0, 1]."""
    import torch

    _set_pad_token(verifier, tokenizer)
    pad_id = verifier.config.pad_token_id
    rows = [encode_prompt(tokenizer, prompt, completion)[:max_length] for completion in completions]
    scores: list[float] = []
    was_training = verifier.training
    verifier.eval()
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            width = max(len(row) for row in batch)
            input_ids = torch.tensor([row + [pad_id] * (width - len(row)) for row in batch], device=verifier.device)
            attention_mask = torch.tensor(
                [[1] * len(row) + [0] * (width - len(row)) for row in batch], device=verifier.device
            )
            logits = verifier(input_ids=input_ids, attention_mask=attention_mask).logits
            scores.extend(torch.softmax(logits.float(), dim=-1)[:, CORRECT_LABEL].tolist())
    verifier.train(was_training)
    return scores


@dataclass
class VerifierScorer:
    """A trained verifier as a `scorer(prompt, completions) -> P(correct) list`, the form `evaluate` takes."""

    model: object
    tokenizer: object
    batch_size: int = 8
    max_length: int = VERIFIER_MAX_LENGTH

    @classmethod
    def from_pretrained(
        cls, path: str, tokenizer=None, dtype: str = "auto", device: str | None = None, **kwargs
    ) -> VerifierScorer:
        """Load a verifier saved by `train_verifier` (and its tokenizer, unless given), by default on the GPU when
        there is one."""
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = AutoModelForSequenceClassification.from_pretrained(path, dtype=dtype).to(device)
        if model.config.num_labels != 2:
            raise ValueError(f"{path} is not a 2-class verifier (num_labels={model.config.num_labels}).")
        return cls(model, tokenizer or AutoTokenizer.from_pretrained(path), **kwargs)

    def __call__(self, prompt, completions: Sequence[str]) -> list[float]:
        return score_candidates(self.model, self.tokenizer, prompt, completions, self.batch_size, self.max_length)


def _set_pad_token(model, tokenizer) -> None:
    """Batched sequence classification finds each row's last token through `config.pad_token_id`; EOS pads when the
    tokenizer has no pad token (Galactica / OPT, Llama)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
