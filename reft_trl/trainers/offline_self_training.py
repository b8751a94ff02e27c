"""Offline self-training (Offline-ST), a baseline of the ReFT paper: SFT on the gold chains of thought plus the warm-up
model's own correct solutions.

1. Sample solutions to every training question from the warm-up model (the authors: 100 per question, temperature 1,
   top-k 50, from the same warm-up checkpoint ReFT starts from).
2. Keep the correct ones (reward exactly 1), distinct, at most 10 per question (`self_learning_samples=10` in the
   authors' `exps/paper_exps/OffSL/*.sh`), and add each question's gold chain of thought, twice as the authors do.
3. Supervised fine-tuning *from the base model* on that set (`ReFTSFTTrainer`; the authors: 20 epochs).

`select_self_training_solutions` is step 2 alone (pure, on given samples and rewards);
`build_offline_self_training_dataset` is steps 1 and 2. `reft-trl offline-st` runs all three.

>>> select_self_training_solutions(["x = 3", "x = 3 ", "x = 4", "y = 3"], [1.0, 1.0, 0.1, 1.0], gold="x = 3.")
['x = 3', 'y = 3']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from datasets import Dataset

from reft_trl.rewards.answer_match import CORRECT_REWARD
from reft_trl.rewards.pcot import with_prefilled_text

PAPER_SAMPLES_PER_QUESTION = 100
"""Solutions sampled per training question (`..._100_temp_1.0_do_sample_1_train.json` in the authors' scripts)."""
PAPER_MAX_SOLUTIONS_PER_QUESTION = 10
"""Correct distinct samples kept per question (`self_learning_samples='10'`)."""
PAPER_SAMPLING_TOP_K = 50
"""Top-k of the sampling: the authors' `sampling.py` passes no `top_k`, so transformers' default of 50 applies."""
PAPER_GOLD_COPIES = 2
"""Rows per gold chain of thought: the authors' `train_file` joins the gold set and the sampling results, and
`train_sl_model.py` trains on each question's gold solution from both."""
SOURCE_GOLD, SOURCE_SAMPLED = "gold", "sampled"


def select_self_training_solutions(
    completions: Sequence[str],
    rewards: Sequence[float | None],
    gold: str | None = None,
    max_solutions: int = PAPER_MAX_SOLUTIONS_PER_QUESTION,
) -> list[str]:
    """The samples of one question that offline self-training adds to its gold chain of thought, as the authors'
    `train_sl_model.py` picks them: reward exactly 1 (`CORRECT_REWARD`, so not the 0.1 partial reward), distinct after
    stripping surrounding whitespace, the first `max_solutions` of those in sampling order; a kept sample that equals
    the gold chain of thought counts towards `max_solutions` but is not returned (the gold row is there already)."""
    if max_solutions < 0:
        raise ValueError(f"max_solutions={max_solutions}; it must be at least 0.")
    seen, distinct = set(), []
    for completion, reward in zip(completions, rewards, strict=True):
        key = completion.strip()
        if reward == CORRECT_REWARD and key and key not in seen:
            seen.add(key)
            distinct.append(completion)
    gold_key = gold.strip() if gold is not None else None
    return [completion for completion in distinct[:max_solutions] if completion.strip() != gold_key]


def build_offline_self_training_dataset(
    model,
    tokenizer,
    dataset: Dataset,
    task: str,
    cot: str = "ncot",
    *,
    sampling_dataset: Dataset | None = None,
    num_samples: int = PAPER_SAMPLES_PER_QUESTION,
    max_solutions: int = PAPER_MAX_SOLUTIONS_PER_QUESTION,
    temperature: float = 1.0,
    top_k: int = PAPER_SAMPLING_TOP_K,
    gold_copies: int = PAPER_GOLD_COPIES,
    max_new_tokens: int = 400,
    batch_size: int = 16,
    backend: str = "auto",
    reward_func: Callable | None = None,
    seed: int | None = 42,
    show_progress: bool = True,
) -> Dataset:
    """The Offline-ST training set: each question's gold row (`gold_copies` times), then up to `max_solutions` correct
    distinct samples.

    Args:
        model: the warm-up (SFT) model, or its path (the paper samples from ReFT's starting checkpoint).
        tokenizer: its tokenizer.
        dataset: the SFT rows (`prompt`, `completion`, `answer`, ...), as `load_task(task, cot, split="train")` gives
            them: the output rows have this format, so `ReFTSFTTrainer` trains on them as on the gold set.
        task: the task (reward).
        cot: "ncot" or "pcot".
        sampling_dataset: the same questions in the same order, formatted for sampling; for P-CoT the paper's prompt
            already opens the program (`load_task(..., program_prefix_in_prompt=True)`), and the kept program is that
            opening plus the sampled body. Defaults to `dataset` (N-CoT: the prompts are the same).
        num_samples: solutions sampled per question (paper: 100).
        max_solutions: correct distinct samples kept per question (paper: 10).
        temperature: sampling temperature (paper: 1.0).
        top_k: top-k sampling, 0 for off (the authors: transformers' default, 50).
        gold_copies: rows per gold chain of thought (the authors: 2, one from their gold file and one from their
            sampling file); 1 trains on each gold solution once.
        max_new_tokens: completion length limit.
        batch_size: sequences per Hugging Face `generate` call.
        backend: "auto", "vllm" or "hf".
        reward_func: a TRL reward function; default `get_reward(task, cot)`.
        seed: random seed of the sampling.
        show_progress: show progress bars.

    Returns:
        A `Dataset` with the columns of `dataset` plus `source` (`"gold"` or `"sampled"`).
    """
    from reft_trl.sampling import sample_and_score

    if gold_copies < 1:
        raise ValueError(f"gold_copies={gold_copies}; every question keeps its gold chain of thought at least once.")
    sampling_dataset = dataset if sampling_dataset is None else sampling_dataset
    _check_same_questions(dataset, sampling_dataset)
    scored = sample_and_score(
        model, tokenizer, sampling_dataset, task, cot, num_samples=num_samples, temperature=temperature, top_k=top_k,
        max_new_tokens=max_new_tokens, batch_size=batch_size, backend=backend, reward_func=reward_func, seed=seed,
        show_progress=show_progress,
    )  # fmt: skip
    rows = []
    for row, sampling_prompt, completions, rewards in zip(
        dataset, scored.prompts, scored.completions, scored.rewards, strict=True
    ):
        gold = _completion_text(row["completion"])
        # A P-CoT sample is the body of a program whose opening the sampling prompt wrote: keep the whole program.
        solutions = [with_prefilled_text(sampling_prompt, text, cot) for text in completions]
        rows.extend(dict(row, source=SOURCE_GOLD) for _ in range(gold_copies))
        for solution in select_self_training_solutions(solutions, rewards, gold, max_solutions):
            rows.append(dict(row, completion=_like(row["completion"], solution), source=SOURCE_SAMPLED))
    return Dataset.from_list(rows)


def _check_same_questions(dataset: Dataset, sampling_dataset: Dataset) -> None:
    if len(dataset) != len(sampling_dataset):
        raise ValueError(
            f"sampling_dataset has {len(sampling_dataset)} rows and dataset {len(dataset)}: they must hold the same "
            "questions in the same order."
        )
    if "item_id" in dataset.column_names and "item_id" in sampling_dataset.column_names:
        for index, (left, right) in enumerate(zip(dataset["item_id"], sampling_dataset["item_id"], strict=True)):
            if left != right:
                raise ValueError(
                    f"Row {index}: item_id {left!r} in dataset but {right!r} in sampling_dataset; they must hold the "
                    "same questions in the same order."
                )


def _completion_text(completion) -> str:
    """The text of a completion: plain text, or the content of a conversational completion's assistant messages."""
    if isinstance(completion, str):
        return completion
    return "".join(message["content"] for message in completion)


def _like(gold_completion, text: str):
    """`text` in the gold completion's format (plain text, or one assistant message)."""
    return text if isinstance(gold_completion, str) else [{"role": "assistant", "content": text}]
