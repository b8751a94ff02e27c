"""The answer format the data writes and the rewards read: shared names, MathQA options, and gold targets that the
reward scores 1.0 for every task x chain-of-thought kind."""

from __future__ import annotations

import doctest
import json
from importlib.resources import files

import pytest

from reft_trl import answer_format
from reft_trl.answer_format import (
    ANSWER_TRIGGER,
    COTS,
    MULTIPLE_CHOICE_TASKS,
    NUMERIC_TASKS,
    PCOT,
    TASKS,
    parse_options,
    parse_options_or_empty,
)
from reft_trl.data import load_task
from reft_trl.data.templates import format_prompt, program_prefix
from reft_trl.rewards import AnswerMatchReward, get_reward

BUNDLED_TRAIN_SETS = {("gsm8k", "ncot"), ("svamp", "ncot"), ("svamp", "pcot")}
"""Task x CoT pairs with a bundled training set; the others are checked on targets written from the test set."""
PCOT_ROWS = 50
"""P-CoT targets run in the sandbox: the first 50 rows of each set keep the whole module within about 10 s."""


def mathqa_questions() -> list[dict]:
    path = files("reft_trl.data") / "bundled" / "mathqa" / "reft_test_set.json"
    return json.loads(path.read_text("utf-8"))


def test_doctests_pass():
    results = doctest.testmod(answer_format)
    assert results.attempted > 0
    assert results.failed == 0


def test_data_and_rewards_share_one_definition():
    import reft_trl.data as data
    from reft_trl.data import builder, templates
    from reft_trl.rewards import compare, extract

    assert TASKS == ("gsm8k", "svamp", "mathqa", "mathqa_numeric")
    assert set(TASKS) == NUMERIC_TASKS | MULTIPLE_CHOICE_TASKS and not NUMERIC_TASKS & MULTIPLE_CHOICE_TASKS
    assert COTS == ("ncot", "pcot")
    assert ANSWER_TRIGGER == "Therefore, the answer is:"
    assert data.TASKS is compare.TASKS is TASKS
    assert data.COTS is builder.COTS is extract.COTS is COTS
    assert templates.ANSWER_TRIGGER is extract.ANSWER_TRIGGER is ANSWER_TRIGGER


# ---------------------------------------------------------------------------------------------------------------------
# Options


@pytest.mark.parametrize(
    ("text", "options"),
    [
        (
            "what is it ?\na ) 38 , b ) 27.675 , c ) 30 , d ) data inadequate , e ) none of these",
            {"a": "38", "b": "27.675", "c": "30", "d": "data inadequate", "e": "none of these"},
        ),
        (
            "q ?\na ) 1 , 200 , b ) rs . 1200 , c ) 30 , 10 , d ) 1,000 , e ) 4 , 2",
            {"a": "1 , 200", "b": "rs . 1200", "c": "30 , 10", "d": "1,000", "e": "4 , 2"},
        ),
        ("q ?\n['a ) 12', 'b ) 15 / 8 ohms', 'c ) 10']", {"a": "12", "b": "15 / 8 ohms", "c": "10"}),
        ("q ?\n['a ) 8', 'b ) it's 1', 'c ) 3']", {"a": "8", "b": "it's 1", "c": "3"}),  # no Python list
        ("q ?\na ) a ) 2 , b ) b ) 5 , c ) c ) 7", {"a": "2", "b": "5", "c": "7"}),
        ("a ) rs . 400 , b ) rs . 300 , c ) 5", {"a": "rs . 400", "b": "rs . 300", "c": "5"}),
        ("q ?\nChoices: a ) 5 , b ) 6", {"a": "5", "b": "6"}),
    ],
)
def test_option_forms(text, options):
    assert parse_options(text) == options
    assert parse_options_or_empty(text) == options


@pytest.mark.parametrize("text", ["what is 2 + 3 ?", "q ?\na ) 3\nb ) 4", ""])
def test_strict_parser_raises_where_the_lenient_one_gives_nothing(text):
    with pytest.raises(ValueError, match="no multiple-choice options"):
        parse_options(text)
    assert parse_options_or_empty(text) == {}


def test_every_bundled_mathqa_question_has_five_options_in_its_prompts_too():
    questions = mathqa_questions()
    assert len(questions) == 1605
    for item in questions:
        question = item["question"].strip()
        options = parse_options(question)
        assert list(options) == list("abcde"), item["item_id"]
        assert all(value and not value.startswith(f"{letter} )") for letter, value in options.items()), item["item_id"]
        # the reward may only see the prompt, which for P-CoT ends inside the program's docstring
        for prompt in (format_prompt(question), format_prompt(question) + program_prefix(question)):
            assert parse_options_or_empty(prompt) == options, item["item_id"]


# ---------------------------------------------------------------------------------------------------------------------
# Gold targets score 1.0


def _written_targets(tmp_path, task: str, cot: str) -> str:
    """A ReFT-format training file made of the test set's questions and gold answers, with a chain of thought that
    states the answer (N-CoT) or a program that returns it (P-CoT): for the tasks without a bundled training set."""
    rows = []
    for row in load_task(task, "ncot", split="test", limit=PCOT_ROWS):
        answer = row["answer"]
        value = repr(answer) if task in MULTIPLE_CHOICE_TASKS else answer
        if cot == PCOT:
            answer_cot = f"{program_prefix(row['question'])}\n    result = {value}\n    return result"
        else:
            answer_cot = f"Working it out gives {answer}."
        rows.append(
            {"item_id": row["item_id"], "question": row["question"], "answer_value": answer, "answer_cot": answer_cot}
        )
    path = tmp_path / f"{task}_{cot}.json"
    path.write_text(json.dumps(rows))
    return str(path)


@pytest.mark.parametrize("cot", COTS)
@pytest.mark.parametrize("task", TASKS)
def test_gold_targets_score_one(task, cot, tmp_path):
    """What SFT trains on (the whole target) and what the online stages train on (P-CoT: the prompt opens the program,
    the completion is its body, and the reward runs both together) both earn the full reward."""
    source = None if (task, cot) in BUNDLED_TRAIN_SETS else _written_targets(tmp_path, task, cot)
    limit = PCOT_ROWS if cot == PCOT else None
    reward = get_reward(task, cot)
    assert isinstance(reward, AnswerMatchReward) and reward.strict
    for prefix_in_prompt in (False, True) if cot == PCOT else (False,):
        rows = load_task(
            task, cot, split="train", source=source, limit=limit, program_prefix_in_prompt=prefix_in_prompt
        )
        assert len(rows) > 0 and None not in rows["completion"]
        prompts = {"prompts": rows["prompt"]} if prefix_in_prompt else {}
        scores = reward(rows["completion"], answer=rows["answer"], question=rows["question"], **prompts)
        wrong = [item_id for item_id, score in zip(rows["item_id"], scores, strict=True) if score != 1.0]
        assert wrong == [], f"{len(wrong)} of {len(rows)} gold targets score below 1.0"
