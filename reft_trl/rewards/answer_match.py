"""`AnswerMatchReward`: the ReFT reward as a TRL reward function (1 correct, 0.1 wrong number, 0 otherwise)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reft_trl.answer_format import COTS, NCOT, NUMERIC_TASKS, PCOT, parse_options_or_empty

from .compare import DEFAULT_TOLERANCE, answers_match, canonical_task, parse_number
from .ncot import ncot_answer
from .pcot import DEFAULT_PROGRAM_TIMEOUT_S, program_answer, program_source, with_prefilled_text

CORRECT_REWARD = 1.0
PARTIAL_REWARD = 0.1
"""The paper's partial reward: an answer was extracted and is a number, but the wrong one."""
NO_REWARD = 0.0

CORRECT, PARTIAL, WRONG, UNEXTRACTABLE = "correct", "partial", "wrong", "unextractable"
"""The outcome of one completion; each maps to a reward."""

METRIC_PREFIX = "answer_match"
"""TRL logs `log_metric` names as given, so the shares appear as `answer_match/accuracy` and so on."""


@dataclass(frozen=True)
class AnswerScore:
    """How one completion was scored: the answer read from it (None: none could be), its outcome and its reward."""

    extracted: str | None
    outcome: str
    reward: float


class AnswerMatchReward:
    """The ReFT reward (Luong et al., 2024, Sec. 3.2) with TRL's reward-function signature.

    `correct` when the extracted answer matches the gold one; `partial` on the numeric tasks (gsm8k, svamp,
    mathqa_numeric) when an answer was extracted, is a well-formed number and is wrong; 0 otherwise (nothing
    extracted, or not a number). On MathQA multiple choice a wrong letter earns 0: the paper's code gives 0.1 there
    too, which the paper does not describe and which would reward guessing any letter, so it is deliberately not
    copied.

    Completions may be plain strings or conversations (`[{"role": "assistant", "content": ...}]`). On multiple
    choice the options are parsed from the `question` column (or the prompt), so an answer written as an option's
    value counts. P-CoT programs of one batch run through one parallel sandbox call.

    When the trainer passes `log_metric`, each batch logs `answer_match/accuracy` (share of completions scored
    correct), `answer_match/partial` and `answer_match/unextractable`; `log_extra` gets the extracted answers.

    Args:
        task: gsm8k, svamp, mathqa (multiple choice) or mathqa_numeric.
        cot: "ncot" or "pcot".
        correct: reward of a correct answer.
        partial: reward of a wrong but well-formed number on the numeric tasks.
        strict: read only the template's trigger `Therefore, the answer is:` (the RL setting); False also reads
            `#### N`, `\\boxed{N}`, `The answer is N`, `Answer: N`, `A: N` and the last number.
        tolerance: absolute tolerance of numeric comparison (the paper's code uses 1e-2).
        program_timeout: seconds each P-CoT program may run.
        max_workers: sandbox worker processes for P-CoT (None: the sandbox's default).
        program_limits: further keyword limits passed to the sandbox's `run_programs` (e.g. memory).

    >>> reward = AnswerMatchReward("gsm8k")
    >>> reward(
    ...     ["3 + 4 = 7\\nTherefore, the answer is: 7", "3 + 4 = 8\\nTherefore, the answer is: 8", "I give up."],
    ...     answer=["7", "7", "7"],
    ... )
    [1.0, 0.1, 0.0]
    >>> reward([[{"role": "assistant", "content": "Therefore, the answer is: 7.0"}]], answer=["7"])
    [1.0]
    >>> mathqa = AnswerMatchReward("mathqa")
    >>> mathqa(["Therefore, the answer is: b", "Therefore, the answer is: c"], answer=["b", "b"])
    [1.0, 0.0]
    >>> AnswerMatchReward("svamp", strict=False)(["So there are <203> pairs."], answer=["203.0"])
    [1.0]
    """

    __name__ = "answer_match"

    def __init__(
        self,
        task: str,
        cot: str = NCOT,
        correct: float = CORRECT_REWARD,
        partial: float = PARTIAL_REWARD,
        strict: bool = True,
        tolerance: float = DEFAULT_TOLERANCE,
        program_timeout: float = DEFAULT_PROGRAM_TIMEOUT_S,
        max_workers: int | None = None,
        program_limits: dict | None = None,
    ):
        if cot not in COTS:
            raise ValueError(f"Unknown cot {cot!r}; valid: {', '.join(COTS)}.")
        self.task = canonical_task(task)
        self.cot = cot
        self.correct = correct
        self.partial = partial
        self.strict = strict
        self.tolerance = tolerance
        self.program_timeout = program_timeout
        self.max_workers = max_workers
        self.program_limits = dict(program_limits or {})
        self.gives_partial = self.task in NUMERIC_TASKS

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, cot={self.cot!r}, strict={self.strict})"

    def __call__(
        self,
        completions: Sequence,
        answer: Sequence[str],
        prompts: Sequence | None = None,
        question: Sequence[str] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        log_extra: Callable[[str, list], None] | None = None,
        **kwargs,
    ) -> list[float]:
        scores = self.score_with_details(completions, answer, prompts=prompts, question=question)
        if log_metric is not None and scores:
            for name in (CORRECT, PARTIAL, UNEXTRACTABLE):
                share = sum(score.outcome == name for score in scores) / len(scores)
                log_metric(f"{METRIC_PREFIX}/{_METRIC_NAMES[name]}", share)
        if log_extra is not None:
            log_extra(f"{METRIC_PREFIX}/extracted", [str(score.extracted) for score in scores])
        return [score.reward for score in scores]

    def score_with_details(
        self,
        completions: Sequence,
        answer: Sequence[str],
        prompts: Sequence | None = None,
        question: Sequence[str] | None = None,
    ) -> list[AnswerScore]:
        """The answer, outcome and reward of each completion: the one place where a completion is read.

        Each completion is read as the model wrote it, after the opening its prompt already put into the answer
        (`with_prefilled_text`, joined here once: PPO rollouts and the paper's P-CoT sampling put `def solution():`
        and the docstring in the prompt, so the program run is that opening plus the completion). On multiple
        choice the options are parsed from `question` (or, without it, the prompt).

        Args:
            completions: the completions as generated: strings, or conversations whose last message holds the text.
            answer: the gold answers.
            prompts: the prompts the completions continue (None: each completion is the whole answer).
            question: the questions, for the MathQA options.

        >>> [score] = AnswerMatchReward("gsm8k").score_with_details(["Therefore, the answer is: 8"], answer=["7"])
        >>> score
        AnswerScore(extracted='8', outcome='partial', reward=0.1)
        """
        texts = [_completion_text(completion) for completion in completions]
        if prompts is not None:
            texts = [with_prefilled_text(prompt, text, self.cot) for prompt, text in zip(prompts, texts, strict=True)]
        options = self._options(question if question is not None else prompts, len(texts))
        extracted = self.extract(texts, options)
        rewards = {CORRECT: self.correct, PARTIAL: self.partial, WRONG: NO_REWARD, UNEXTRACTABLE: NO_REWARD}
        scores = []
        for predicted, gold in zip(extracted, answer, strict=True):
            outcome = self.outcome(predicted, gold)
            scores.append(AnswerScore(predicted, outcome, rewards[outcome]))
        return scores

    def extract(self, texts: Sequence[str], options: Sequence[dict[str, str] | None]) -> list[str | None]:
        """The answers of a batch of whole answer texts (any prefilled opening already joined: `score_with_details`
        joins it); P-CoT programs run in one parallel sandbox call."""
        if self.cot == PCOT:
            from .sandbox import run_programs

            results = run_programs(
                [program_source(text) for text in texts],
                timeout=self.program_timeout,
                max_workers=self.max_workers,
                **self.program_limits,
            )
            return [program_answer(result, self.task, option) for result, option in zip(results, options, strict=True)]
        return [ncot_answer(text, self.task, self.strict, option) for text, option in zip(texts, options, strict=True)]

    def outcome(self, predicted: str | None, gold: str) -> str:
        """How one extracted answer fares against its gold answer: correct, partial, wrong or unextractable."""
        if predicted is None:
            return UNEXTRACTABLE
        if answers_match(predicted, str(gold), self.task, self.tolerance):
            return CORRECT
        if self.gives_partial and parse_number(predicted) is not None:
            return PARTIAL
        return WRONG

    def _options(self, sources: Sequence | None, size: int) -> list[dict[str, str] | None]:
        """Multiple-choice options from each question (or prompt); None where the task has no options."""
        if self.gives_partial or sources is None:
            return [None] * size
        return [parse_options_or_empty(_completion_text(source)) or None for source in sources]


_METRIC_NAMES = {CORRECT: "accuracy", PARTIAL: "partial", UNEXTRACTABLE: "unextractable"}


def _completion_text(completion) -> str:
    """The text of a completion or prompt: a string, or a conversation whose last message holds the text."""
    if isinstance(completion, str):
        return completion
    if not completion:
        return ""
    content = completion[-1].get("content", "")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))
