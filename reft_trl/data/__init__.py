"""Questions in, TRL-ready datasets out: GSM8K, SVAMP and MathQA in the ReFT paper's formats.

>>> ds = load_task("svamp", cot="ncot", split="train", limit=2)
>>> ds.column_names
['prompt', 'completion', 'answer', 'item_id', 'question']
>>> ds[0]["completion"].endswith("\\nTherefore, the answer is: 203.0")
True
"""

from __future__ import annotations

from functools import partial

from datasets import Dataset

from reft_trl.answer_format import COTS, TASKS

from .builder import SOURCES, SPLITS, TEMPLATES, check_choice
from .errors import DataFormatError
from .gsm8k import load_gsm8k
from .mathqa import load_mathqa
from .svamp import load_svamp

TASK_LOADERS = {
    "gsm8k": load_gsm8k,
    "svamp": load_svamp,
    "mathqa": partial(load_mathqa, numeric=False),
    "mathqa_numeric": partial(load_mathqa, numeric=True),
}


def load_task(
    task: str,
    cot: str = "ncot",
    split: str = "train",
    *,
    source: str | None = None,
    template: str = "reft",
    skip_bad_rows: bool = False,
    limit: int | None = None,
    program_prefix_in_prompt: bool = False,
) -> Dataset:
    """Load a math word-problem task as a TRL prompt-completion `datasets.Dataset`.

    Columns: `prompt`, `completion` (the SFT target; None where the source has no chain of thought, as in
    the ReFT test sets), `answer` (gold: a number as text, or a letter a-e for `mathqa`), `item_id` and
    `question` (the question text, whitespace-stripped).

    Args:
        task: one of `TASKS`.
        cot: `"ncot"` (natural language, ending `Therefore, the answer is: {answer}`) or `"pcot"` (a Python
            program `def solution(): ... return result`).
        split: `"train"` or `"test"`.
        source: None for the bundled default; `"reft"` (the ReFT authors' files), `"original"` (the
            dataset's own files), `"hub"` (Hugging Face Hub ids: openai/gsm8k, ChilleD/SVAMP,
            allenai/math_qa), or the path / URL of a ReFT-format JSON or JSON-lines file.
        template: `"reft"` for the paper's plain-text prompt, `"chat"` for TRL's conversational format
            (`[{"role": "user", ...}]` prompts, `[{"role": "assistant", ...}]` completions), same text.
        skip_bad_rows: leave out rows that fail validation (with a warning) instead of raising `DataFormatError`.
        limit: keep the first `limit` examples.
        program_prefix_in_prompt: P-CoT only: move `def solution():\\n    \"\"\"{question}\"\"\"` from the
            start of the completion to the end of the prompt, as the paper's PPO rollouts force-prefix it
            (with `template="chat"`, as a final assistant message that the model continues); the completion starts
            with the newline after the docstring (`reft_trl.data.templates.PROGRAM_PREFIX_TEMPLATE` says why).
    """
    check_choice("task", task, TASKS)
    return TASK_LOADERS[task](
        cot,
        split,
        source=source,
        template=template,
        skip_bad_rows=skip_bad_rows,
        limit=limit,
        program_prefix_in_prompt=program_prefix_in_prompt,
    )


__all__ = [
    "COTS",
    "SOURCES",
    "SPLITS",
    "TASKS",
    "TEMPLATES",
    "DataFormatError",
    "load_gsm8k",
    "load_mathqa",
    "load_svamp",
    "load_task",
]
