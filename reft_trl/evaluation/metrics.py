"""Accuracy metrics on extracted answers: greedy (top-1) accuracy, majority voting, unbiased pass@k and the
reranked choice.

Pure functions on lists: answers are the strings `reft_trl.rewards.extract_answer` returns (None when nothing could
be extracted) and correctness flags are what `answers_match` says of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from reft_trl.rewards import answers_match
from reft_trl.rewards.compare import DEFAULT_TOLERANCE

PAPER_VOTING_SAMPLES = 100
"""The paper's voting and reranking: 100 samples per question at temperature 1.0."""


def accuracy(correct: Sequence[bool | float]) -> float:
    """The mean of per-question scores (True / False, or a pass@k value); 0.0 for no questions.

    >>> accuracy([True, False, True, True])
    0.75
    """
    return sum(float(value) for value in correct) / len(correct) if correct else 0.0


def greedy_accuracy(correct_per_question: Sequence[Sequence[bool]]) -> float:
    """Top-1 accuracy: the share of questions whose first (greedy) completion is correct.

    >>> greedy_accuracy([[True], [False], [True, False], [False, True]])
    0.5
    """
    return accuracy([bool(flags) and bool(flags[0]) for flags in correct_per_question])


def majority_vote(
    answers: Sequence[str | None], task: str | None = None, tolerance: float = DEFAULT_TOLERANCE
) -> str | None:
    """The most frequent answer among `answers`, or None when none was extracted.

    Unextractable answers (None) do not vote. With a `task`, answers that `answers_match` judges equal vote
    together (`"18"` and `"18.0"` on the numeric tasks, `"c"` and `"(C)"` on MathQA): each answer joins the group of
    the first earlier answer it matches, and the group is named by that first answer. Without a task, answers are
    compared as strings. Ties go to the group seen first, so the result does not depend on hashing or sort stability
    (the paper's code takes `Counter.most_common(1)`, which also keeps the first-seen of tied answers).

    >>> majority_vote(["18", "7", "18.0", None, None, None], task="gsm8k")
    '18'
    >>> majority_vote(["7", "18", "18", "7"], task="gsm8k")  # a tie: the first-seen answer wins
    '7'
    >>> majority_vote([None, None]) is None
    True
    """
    groups: list[list] = []  # [first answer, votes]
    for answer in answers:
        if answer is None:
            continue
        group = next((group for group in groups if _same_answer(answer, group[0], task, tolerance)), None)
        if group is None:
            groups.append([answer, 1])
        else:
            group[1] += 1
    if not groups:
        return None
    return max(groups, key=lambda group: group[1])[0]  # max keeps the first of equal counts


def voting_accuracy(
    answers_per_question: Sequence[Sequence[str | None]],
    gold_answers: Sequence[str],
    task: str,
    tolerance: float = DEFAULT_TOLERANCE,
) -> float:
    """The share of questions whose majority-vote answer matches the gold answer.

    >>> voting_accuracy([["18", "18.0", "7"], ["5", None, "6"], [None]], ["18", "6", "1"], "svamp")
    0.3333333333333333
    """
    return accuracy(
        [
            answers_match(majority_vote(answers, task, tolerance), str(gold), task, tolerance)
            for answers, gold in zip(answers_per_question, gold_answers, strict=True)
        ]
    )


def pass_at_k(num_samples: int, num_correct: int, k: int) -> float:
    """The unbiased estimate of pass@k from `num_correct` correct among `num_samples` samples of one question.

    The probability that at least one of `k` samples drawn without replacement from the `num_samples` is correct,
    `1 - C(n - c, k) / C(n, k)` (Chen et al., 2021, "Evaluating Large Language Models Trained on Code"), computed as
    a product to stay exact for large `n`.

    >>> pass_at_k(10, 0, 1), round(pass_at_k(10, 3, 1), 6), pass_at_k(10, 10, 5)
    (0.0, 0.3, 1.0)
    >>> round(pass_at_k(4, 1, 2), 6)  # 1 - C(3, 2) / C(4, 2) = 1 - 3 / 6
    0.5
    """
    if not 0 <= num_correct <= num_samples:
        raise ValueError(f"num_correct={num_correct} must lie between 0 and num_samples={num_samples}.")
    if not 1 <= k <= num_samples:
        raise ValueError(f"k={k} must lie between 1 and num_samples={num_samples}.")
    if num_samples - num_correct < k:
        return 1.0
    miss = 1.0
    for drawn in range(num_samples - num_correct + 1, num_samples + 1):
        miss *= 1.0 - k / drawn
    return 1.0 - miss


def mean_pass_at_k(correct_per_question: Sequence[Sequence[bool]], k: int) -> float:
    """pass@k averaged over questions, each with its own samples' correctness flags.

    >>> mean_pass_at_k([[True, False], [False, False], [True, True]], k=1)
    0.5
    """
    return accuracy([pass_at_k(len(flags), sum(map(bool, flags)), k) for flags in correct_per_question])


def rerank_choice(scores: Sequence[float], answers: Sequence[str | None] | None = None) -> int | None:
    """The index of the best-scored candidate among those with an extracted answer; None when there is none.

    Candidates whose answer could not be extracted are passed over, as in the paper's code; ties go to the first.

    >>> rerank_choice([0.2, 0.9, 0.5])
    1
    >>> rerank_choice([0.2, 0.9, 0.5], answers=["18", None, "7"])
    2
    >>> rerank_choice([0.9], answers=[None]) is None
    True
    """
    answers = [""] * len(scores) if answers is None else answers
    valid = [index for index, answer in zip(range(len(scores)), answers, strict=True) if answer is not None]
    return max(valid, key=lambda index: scores[index], default=None)


def rerank_accuracy(
    scores_per_question: Sequence[Sequence[float]],
    correct_per_question: Sequence[Sequence[bool]],
    answers_per_question: Sequence[Sequence[str | None]] | None = None,
) -> float:
    """The share of questions whose reranked choice is correct (a question with no valid candidate counts wrong).

    >>> rerank_accuracy([[0.1, 0.8], [0.7, 0.3]], [[False, True], [False, True]])
    0.5
    """
    answers_per_question = answers_per_question or [None] * len(scores_per_question)
    chosen = [
        rerank_choice(scores, answers)
        for scores, answers in zip(scores_per_question, answers_per_question, strict=True)
    ]
    return accuracy(
        [index is not None and bool(flags[index]) for index, flags in zip(chosen, correct_per_question, strict=True)]
    )


def _same_answer(answer: str, other: str, task: str | None, tolerance: float) -> bool:
    if answer == other:
        return True
    return task is not None and answers_match(answer, other, task, tolerance)
