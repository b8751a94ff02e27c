"""MathQA: ReFT's multiple-choice and numeric test sets, and the allenai/math_qa row mapping."""

import pytest

from reft_trl.answer_format import parse_options
from reft_trl.data import load_task
from reft_trl.data.mathqa import mathqa_record, option_number, rationale_text

# On the 1,605 bundled problems, the correct option's number equals ReFT's numeric gold for 1,582; 16 options
# are not plain numbers ("7 1 / 2", "t = 32") and 7 differ because ReFT's values drop a sign ("− 120" -> 120.0)
# or cut at a thousands comma ("$ 1,354" -> 1.0).
OPTION_NUMBER_AGREES, OPTION_NOT_A_NUMBER = 1582, 16


@pytest.fixture(scope="module")
def choice():
    return load_task("mathqa", "ncot", "test")


@pytest.fixture(scope="module")
def numeric():
    return load_task("mathqa_numeric", "ncot", "test")


def hub_row(example, rationale='"explanation : see above . answer : a"'):
    """An allenai/math_qa row rebuilt from a ReFT multiple-choice example."""
    problem, options = example["question"].rsplit("\n", 1)
    return {
        "Problem": problem,
        "Rationale": rationale,
        "options": options,
        "correct": example["answer"],
        "annotated_formula": "add(n0, n1)",
        "linear_formula": "add(n0,n1)|",
        "category": "general",
    }


def test_multiple_choice_test_set(choice):
    assert choice.num_rows == 1605
    assert set(choice["answer"]) == set("abcde")
    assert set(choice["completion"]) == {None}
    first = choice[0]
    assert first["item_id"] == "mathqa_0"
    assert first["answer"] == "a"
    assert first["question"].endswith("\na ) 38 , b ) 27.675 , c ) 30 , d ) data inadequate , e ) none of these")
    assert first["prompt"] == f"Question:\n{first['question']}\nAnswer reasoning:\n"


def test_every_gold_letter_names_an_option(choice):
    for question, answer in zip(choice["question"], choice["answer"]):
        assert answer in parse_options(question)


def test_numeric_test_set(numeric):
    assert numeric.num_rows == 1605
    assert numeric[0]["answer"] == "38.0"
    assert numeric[0]["item_id"] == "mathqa-numeric_0"
    assert "\n" not in numeric[0]["question"]
    for answer in numeric["answer"]:
        float(answer)


@pytest.mark.parametrize("task", ["mathqa", "mathqa_numeric"])
def test_no_bundled_train_split_says_to_use_the_hub(task):
    with pytest.raises(ValueError, match="source='hub'"):
        load_task(task, "ncot", "train")


def test_no_original_files():
    with pytest.raises(ValueError, match="allenai/math_qa"):
        load_task("mathqa", "ncot", "test", source="original")


def test_option_number():
    assert option_number("38") == "38.0"
    assert option_number("rs . 1,200") == "1200.0"
    assert option_number("$ 0.40") == "0.4"
    assert option_number("4 / 12") == str(4 / 12)
    assert option_number("36 km / hr") == "36.0"
    assert option_number("2400 m ^ 2") == "2400.0"
    assert option_number("− 120") == "-120.0"
    for not_a_number in ("none of these", "data inadequate", "7 1 / 2", "30 , 10", "t = 32", "3 ab / 11", "1 / 0"):
        assert option_number(not_a_number) is None, not_a_number


def test_rationale_loses_its_wrapping_quotes():
    assert rationale_text(' "a = 5 . answer : a" ') == "a = 5 . answer : a"
    assert rationale_text('say "hi"') == 'say "hi"'


def test_hub_rows_map_to_the_reft_multiple_choice_form(choice):
    for index, example in enumerate(choice.select(range(50))):
        record = mathqa_record(hub_row(example), index)
        assert record["question"] == example["question"]
        assert record["answer_value"] == example["answer"]
        assert record["answer_cot"] == "explanation : see above . answer : a"
        assert record["item_id"] == f"mathqa_{index}"


def test_hub_rows_map_to_reft_numeric_answers(choice, numeric):
    agree = not_a_number = 0
    for example, numeric_example in zip(choice, numeric):
        hub_index = int(example["item_id"].split("_")[1])  # ReFT's ids number the rows of MathQA's test split
        record = mathqa_record(hub_row(example), hub_index, numeric=True)
        if record is None:
            not_a_number += 1
            continue
        assert record["question"] == numeric_example["question"]
        assert record["item_id"] == numeric_example["item_id"]
        agree += abs(float(record["answer_value"]) - float(numeric_example["answer"])) < 1e-6
    assert (agree, not_a_number) == (OPTION_NUMBER_AGREES, OPTION_NOT_A_NUMBER)


def test_hub_pcot_has_no_program():
    row = hub_row({"question": "2 + 3 ?\na ) 5 , b ) 6", "answer": "a"}, rationale="ignored")
    assert mathqa_record(row, 0, cot="pcot")["answer_cot"] is None
