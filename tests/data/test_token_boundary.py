"""A P-CoT rollout prompt (the program's opening prefilled) must tokenize as the first tokens of the text SFT trains
on, so the warm-up continues from a token boundary it was trained at."""

import pytest

from reft_trl.data import load_task
from reft_trl.data.templates import program_prefix
from reft_trl.rewards.pcot import with_prefilled_text


@pytest.mark.parametrize("split", ["train", "test"])
def test_prefilled_prompt_tokens_start_the_sft_texts_tokens(tokenizer, split):
    sft = load_task("svamp", cot="pcot", split="train")
    rollout = load_task("svamp", cot="pcot", split=split, program_prefix_in_prompt=True)
    if split == "train":  # the gold programs whose docstring is the question (a few hold another wording)
        pairs = [
            (row, gold["prompt"] + gold["completion"])
            for row, gold in zip(rollout, sft, strict=True)
            if gold["completion"].startswith(program_prefix(gold["question"]))
        ]
        assert len(pairs) > 0.95 * len(rollout)
    else:  # no gold programs: the opening as SFT's programs continue it (a newline and the indented body)
        pairs = [(row, row["prompt"] + "\n    result = 1\n    return result") for row in rollout]
    broken = []
    for row, text in pairs:
        prompt_ids = tokenizer(row["prompt"])["input_ids"]
        if tokenizer(text)["input_ids"][: len(prompt_ids)] != prompt_ids:
            broken.append(row["item_id"])
    assert broken == [], f"{len(broken)} of {len(pairs)} prompts end inside a token of the text SFT trains on"


def test_the_papers_newline_ending_would_split_a_token(tokenizer):
    """The check above can fail: with the paper's prefix (ending in a newline) the boundary falls inside the token
    that joins the newline and the body's indentation."""
    row = load_task("svamp", cot="pcot", split="train", limit=1, program_prefix_in_prompt=True)[0]
    prompt_ids = tokenizer(row["prompt"] + "\n")["input_ids"]
    text_ids = tokenizer(row["prompt"] + row["completion"])["input_ids"]
    assert text_ids[: len(prompt_ids)] != prompt_ids


def test_a_body_written_without_the_newline_still_joins_into_a_program():
    prompt = load_task("svamp", cot="pcot", split="test", limit=1, program_prefix_in_prompt=True)[0]["prompt"]
    with_newline = with_prefilled_text(prompt, "\n    return 3", cot="pcot")
    assert with_prefilled_text(prompt, "    return 3", cot="pcot") == with_newline
    assert with_newline.endswith('"""\n    return 3')
