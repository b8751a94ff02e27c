"""A prompt that a model continues must tokenize as the first tokens of the text SFT trained on, wherever training saw
that prompt too: the warm-up then continues from a token boundary it was trained at.

SmolLM2's byte-level BPE merges a newline with the indentation after it (`ĊĠĠĠ`). P-CoT prompts used to end with the
newline after the program's docstring, so they ended in a lone `Ċ` that SFT never saw there, and the warm-up started a
second program (`reft_trl.data.templates.PROGRAM_PREFIX_TEMPLATE`). Checked here, on the real SmolLM2 tokenizer:

- every task x chain of thought, on training questions (the tasks without a bundled training set: targets written
  from the test set, as `tests/test_answer_format.py` does) and on test questions (continued as SFT's targets are);
- N-CoT: the SFT prompt against SFT's prompt + completion; P-CoT: the prompt with the program's opening prefilled
  (`program_prefix_in_prompt=True`) against SFT's prompt + program;
- the plain ("reft") and the chat ("chat") template, each prompt tokenized as evaluation does
  (`reft_trl.generation.encode_prompt`, both backends) and as PPO rollouts do (`ReFTPPOTrainer._tokenize_prompts`:
  `ContinuedPromptsMixin`, else TRL's `GRPOTrainer`), the SFT text as TRL's `SFTTrainer` does; and online
  self-training's gold sequences, which join separately tokenized parts.
"""

from __future__ import annotations

import itertools

import pytest

from reft_trl.answer_format import COTS, PCOT, TASKS
from reft_trl.data import SPLITS, load_task
from reft_trl.data.templates import format_ncot_target, program_prefix
from reft_trl.generation import encode_prompt
from reft_trl.rewards.pcot import with_prefilled_text
from reft_trl.trainers.continued_prompts import continued_prompt_ids
from tests.test_answer_format import BUNDLED_TRAIN_SETS, _written_targets

TEMPLATES = ("reft", "chat")
ROWS = 80
"""Rows checked per case, spread evenly over the set (all of a smaller one): tokenizing whole sets would take seconds,
and a row's boundary depends only on the few characters either side of it."""
BODY = "\n    result = 1\n    return result"
"""How SFT's programs continue the opening `program_prefix` writes: a newline, then the indented body."""


# ---------------------------------------------------------------------------------------------------------------------
# How each side is tokenized


def sft_ids(tokenizer, row) -> list[int]:
    """The tokens TRL 1.16's `SFTTrainer` trains on for a prompt-completion row (`tokenize_fn` in
    `trl/trainer/sft_trainer.py`): plain text with the EOS appended to the completion as text, or the chat template
    over the conversation prompt + completion."""
    if isinstance(row["prompt"], str):
        return tokenizer(text=row["prompt"] + row["completion"] + tokenizer.eos_token)["input_ids"]
    return tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=True, return_dict=True)[
        "input_ids"
    ]


def ppo_rollout_ids(tokenizer, prompt) -> list[int]:
    """A prompt's tokens as PPO rollouts generate from them (`ReFTPPOTrainer._tokenize_prompts`, which
    `tests/trainers/test_continued_prompts.py` checks is this): a conversation ending with the assistant's message (the
    P-CoT opening) through `continued_prompt_ids`; any other prompt as TRL 1.16's `GRPOTrainer._tokenize_prompts`
    tokenizes it, copied here: plain text as it is, a conversation with `add_generation_prompt=True`."""
    continued = continued_prompt_ids(tokenizer, [prompt])
    if continued is not None:
        return continued[0]
    if isinstance(prompt, str):
        return tokenizer(text=prompt)["input_ids"]
    return tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)[
        "input_ids"
    ]


PROMPT_READERS = {"evaluation": encode_prompt, "ppo_rollout": ppo_rollout_ids}


def text_of(completion) -> str:
    """A completion's text: plain, or the content of a conversational completion's one assistant message."""
    return completion if isinstance(completion, str) else completion[0]["content"]


def with_completion(row, text: str) -> dict:
    """`row` with `text` as its completion, in the row's format (plain text or an assistant message)."""
    completion = text if isinstance(row["prompt"], str) else [{"role": "assistant", "content": text}]
    return {**row, "completion": completion}


def continuation(cot: str, row) -> str:
    """A target for a test question, written as SFT's targets are: a chain of thought ending with the answer trigger,
    or a program that opens with the question as its docstring."""
    if cot == PCOT:
        return program_prefix(row["question"]) + BODY
    return format_ncot_target("Working it out gives the answer.", row["answer"])


def spread(rows, n: int = ROWS) -> list[int]:
    """Indices of `n` rows spread evenly over `rows` (all of them when there are no more than `n`)."""
    step = max(1, -(-len(rows) // n))
    return list(range(0, len(rows), step))


def first_mismatch(tokenizer, prompt_ids: list[int], text_ids: list[int]) -> str:
    """The two token sequences around where the prompt's tokens stop matching the SFT text's."""
    at = next(
        (i for i, (a, b) in enumerate(zip(prompt_ids, text_ids, strict=False)) if a != b),
        min(len(prompt_ids), len(text_ids)),
    )
    window = slice(max(0, at - 3), at + 3)
    return (
        f"prompt tokens {tokenizer.convert_ids_to_tokens(prompt_ids[window])} vs SFT tokens "
        f"{tokenizer.convert_ids_to_tokens(text_ids[window])} (from token {window.start})"
    )


# ---------------------------------------------------------------------------------------------------------------------
# Rows


@pytest.fixture(scope="module")
def training_source(tmp_path_factory):
    """`source` for a task's training split: None where a training set is bundled, else a file of targets written from
    the test set's questions and answers (`tests/test_answer_format.py`)."""
    written = {}

    def source(task: str, cot: str) -> str | None:
        if (task, cot) in BUNDLED_TRAIN_SETS:
            return None
        if (task, cot) not in written:
            written[task, cot] = _written_targets(tmp_path_factory.mktemp(f"{task}_{cot}"), task, cot)
        return written[task, cot]

    return source


@pytest.fixture(scope="module")
def boundary_pairs(tokenizer, training_source):
    """`(task, cot, template, split)` -> `[(item_id, prompt the model continues, tokens SFT trains on)]`, made once
    for both ways of reading the prompt."""
    cache = {}

    def pairs(task: str, cot: str, template: str, split: str) -> list[tuple[str, object, list[int]]]:
        key = (task, cot, template, split)
        if key not in cache:
            cache[key] = [
                (item_id, prompt, sft_ids(tokenizer, row)) for item_id, prompt, row in _pairs(training_source, *key)
            ]
        return cache[key]

    return pairs


def _pairs(training_source, task: str, cot: str, template: str, split: str) -> list[tuple[str, object, dict]]:
    load = dict(split=split, source=training_source(task, cot) if split == "train" else None, template=template)
    sft = load_task(task, cot, **load)
    kept = spread(sft)
    sft = list(sft.select(kept))
    if split == "test":  # no targets: continued as SFT's are
        sft = [with_completion(row, continuation(cot, row)) for row in sft]
    if cot != PCOT:  # the model continues the SFT prompt itself
        return [(row["item_id"], row["prompt"], row) for row in sft]
    prefilled = load_task(task, cot, program_prefix_in_prompt=True, **load).select(kept)
    pairs = [
        (row["item_id"], row["prompt"], gold)
        for row, gold in zip(prefilled, sft, strict=True)
        # the gold programs whose docstring is the question (a few hold another wording, which the prompt replaces)
        if text_of(gold["completion"]).startswith(program_prefix(gold["question"]))
    ]
    assert len(pairs) > 0.95 * len(sft), f"only {len(pairs)} of {len(sft)} programs open with the question"
    return pairs


def _cases():
    for task, cot, template, split, reader in itertools.product(TASKS, COTS, TEMPLATES, SPLITS, PROMPT_READERS):
        yield pytest.param(task, cot, template, split, reader, id=f"{task}-{cot}-{template}-{split}-{reader}")


# ---------------------------------------------------------------------------------------------------------------------
# Tests


@pytest.mark.parametrize(("task", "cot", "template", "split", "reader"), list(_cases()))
def test_a_continued_prompts_tokens_start_the_sft_texts_tokens(
    tokenizer, boundary_pairs, task, cot, template, split, reader
):
    """The tokens a model continues (evaluation, PPO rollouts) are the first tokens of the text SFT trains on.

    A failure means that this prompt ends inside a token SFT trained on, or renders differently from SFT's text (a
    chat template closing the turn): the warm-up model continues from a context it never saw at that point, as the
    P-CoT prompts ending in a lone newline token did (the model started a second program).
    """
    read = PROMPT_READERS[reader]
    pairs = boundary_pairs(task, cot, template, split)
    assert pairs
    broken = []
    for item_id, prompt, text_ids in pairs:
        prompt_ids = read(tokenizer, prompt)
        if text_ids[: len(prompt_ids)] != prompt_ids:
            broken.append(f"{item_id}: {first_mismatch(tokenizer, prompt_ids, text_ids)}")
    assert broken == [], f"{len(broken)} of {len(pairs)} prompts do not start the SFT text's tokens; first {broken[0]}"


@pytest.mark.parametrize("cot", COTS)
@pytest.mark.parametrize("task", TASKS)
def test_online_self_trainings_gold_tokens_are_the_sft_texts(tokenizer, training_source, task, cot):
    """Online self-training trains on the prompt's tokens followed by the gold completion tokenized on its own
    (`OnlineSelfTrainingTrainer._tokenize_gold`), on rows with the program's opening in the prompt for P-CoT.

    A failure means that this gold sequence is not the tokenization of the same text, the one SFT trained on and the
    model writes: the prompt ends inside a token (as the newline before a program's body did), or the completion's
    first characters merge with the prompt's last.
    """
    rows = load_task(task, cot, source=training_source(task, cot), program_prefix_in_prompt=cot == PCOT)
    rows = rows.select(spread(rows))
    prompts, completions = list(rows["prompt"]), list(rows["completion"])
    joined = tokenizer(text=[p + c for p, c in zip(prompts, completions, strict=True)])["input_ids"]
    separate = zip(
        tokenizer(text=prompts)["input_ids"],
        tokenizer(text=completions, add_special_tokens=False)["input_ids"],
        strict=True,
    )
    broken = [
        f"{item_id}: {first_mismatch(tokenizer, p + c, j)}"
        for item_id, (p, c), j in zip(rows["item_id"], separate, joined, strict=True)
        if p + c != j
    ]
    assert broken == [], f"{len(broken)} of {len(rows)} gold sequences differ; first {broken[0]}"


def test_the_papers_newline_ending_would_split_a_token(tokenizer):
    """The checks above can fail: with the paper's prefix (ending in a newline) the boundary falls inside the token
    that joins the newline and the body's indentation."""
    row = load_task("svamp", cot="pcot", split="train", limit=1, program_prefix_in_prompt=True)[0]
    prompt_ids = tokenizer(row["prompt"] + "\n")["input_ids"]
    text_ids = tokenizer(row["prompt"] + row["completion"])["input_ids"]
    assert text_ids[: len(prompt_ids)] != prompt_ids


def test_a_body_written_without_the_newline_still_joins_into_a_program():
    """A model that writes the body without its leading newline still produces a program the reward can run."""
    prompt = load_task("svamp", cot="pcot", split="test", limit=1, program_prefix_in_prompt=True)[0]["prompt"]
    with_newline = with_prefilled_text(prompt, "\n    return 3", cot="pcot")
    assert with_prefilled_text(prompt, "    return 3", cot="pcot") == with_newline
    assert with_newline.endswith('"""\n    return 3')
