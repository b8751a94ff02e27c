"""Sample solutions to training questions and score them with the answer reward.

Shared by the verifier's training data (`collect_verifier_data`) and offline self-training
(`build_offline_self_training_dataset`): both sample k solutions per training question from the warm-up model at
temperature 1 and keep, or label, each by its reward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from datasets import Dataset

from .generation import DEFAULT_BATCH_SIZE, DEFAULT_MAX_NEW_TOKENS, generate

REWARD_COLUMNS = ("answer", "question")
"""Dataset columns the answer reward reads (MathQA's options live in `question`)."""


@dataclass
class ScoredSamples:
    """`completions[i]` and `rewards[i]`: the samples of question i of the dataset, in its order, and their rewards."""

    prompts: list
    completions: list[list[str]]
    rewards: list[list[float | None]]


def sample_and_score(
    model,
    tokenizer,
    dataset: Dataset,
    task: str,
    cot: str = "ncot",
    *,
    num_samples: int,
    temperature: float = 1.0,
    top_k: int = 0,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    backend: str = "auto",
    reward_func: Callable | None = None,
    seed: int | None = 42,
    show_progress: bool = True,
) -> ScoredSamples:
    """Sample `num_samples` completions per question of `dataset` and score each with the reward.

    Args:
        model: the warm-up (SFT) model, or its path.
        tokenizer: its tokenizer.
        dataset: rows with `prompt` and `answer` (and `question` for MathQA options), e.g. `load_task(task, cot,
            split="train", program_prefix_in_prompt=cot == "pcot")`.
        task: the task, for the default reward.
        cot: "ncot" or "pcot".
        num_samples: completions per question, sampled at `temperature`.
        temperature: sampling temperature.
        top_k: top-k sampling (0: off).
        max_new_tokens: completion length limit.
        batch_size: sequences per Hugging Face `generate` call.
        backend: "auto", "vllm" or "hf".
        reward_func: a TRL reward function, called as TRL calls it: the prompts, the completions as generated (a
            P-CoT body without the program opening its prompt wrote) and the dataset's reward columns; default
            `get_reward(task, cot)` (1.0 for a correct answer), which joins a prompt's opening to its completion.
        seed: random seed of the sampling (None: leave the random state as it is).
        show_progress: show a progress bar.
    """
    from transformers import set_seed

    from reft_trl.rewards import get_reward

    reward_func = reward_func or get_reward(task, cot)
    if seed is not None:
        set_seed(seed)
    prompts = list(dataset["prompt"])
    samples = generate(
        model,
        tokenizer,
        prompts,
        num_samples=num_samples,
        greedy=False,
        temperature=temperature,
        top_k=top_k,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        backend=backend,
        show_progress=show_progress,
    )
    flat_prompts = [prompt for prompt, texts in zip(prompts, samples, strict=True) for _ in texts]
    flat_completions = [text for texts in samples for text in texts]
    columns = {name: dataset[name] for name in REWARD_COLUMNS if name in dataset.column_names}
    flat_rewards = reward_func(
        completions=flat_completions,
        prompts=flat_prompts,
        **{name: [value for value, texts in zip(values, samples) for _ in texts] for name, values in columns.items()},
    )
    rewards, start = [], 0
    for texts in samples:
        rewards.append(list(flat_rewards[start : start + len(texts)]))
        start += len(texts)
    return ScoredSamples(prompts=prompts, completions=samples, rewards=rewards)
