"""SVAMP: ReFT's N-CoT / P-CoT train files, its test set, the original challenge set, the program prefix."""

import json
import logging

import pytest

from reft_trl.data import load_task
from reft_trl.data.reading import bundled_file
from reft_trl.data.svamp import svamp_record
from reft_trl.data.templates import format_prompt, program_prefix, split_program

PROGRAMS_WITH_ANOTHER_DOCSTRING = 37  # their docstring is the untokenised question ("Bob’s car" vs "Bob ’ s car")


@pytest.fixture(scope="module")
def pcot_rows():
    return json.loads(bundled_file("svamp", "reft_train_pcot.json").read_text("utf-8"))


@pytest.mark.parametrize(
    ("cot", "split", "rows"), [("ncot", "train", 3076), ("pcot", "train", 3043), ("ncot", "test", 1000)]
)
def test_row_counts(cot, split, rows):
    assert load_task("svamp", cot, split).num_rows == rows


def test_ncot_train_example_exact():
    first = load_task("svamp", "ncot", "train", limit=1)[0]
    assert first["item_id"] == "svamp_0"
    assert first["answer"] == "203.0"
    assert first["prompt"] == format_prompt(first["question"])
    assert first["completion"].startswith("If Tyler initially had 29 endangered bird species")
    assert first["completion"].endswith("Therefore, the answer is <203>.\nTherefore, the answer is: 203.0")


def test_pcot_train_completion_is_the_program(pcot_rows):
    dataset = load_task("svamp", "pcot", "train")
    assert dataset["completion"] == [row["answer_cot"].strip() for row in pcot_rows]
    assert dataset["answer"] == [row["answer_value"] for row in pcot_rows]


def test_bundled_programs_open_with_the_prefix_except_a_known_few(pcot_rows):
    different = [row for row in pcot_rows if not row["answer_cot"].startswith(program_prefix(row["question"]))]
    assert len(different) == PROGRAMS_WITH_ANOTHER_DOCSTRING
    for row in different:
        docstring, _ = split_program(row["answer_cot"])
        assert docstring != row["question"]


def test_program_prefix_moves_from_completion_to_prompt(pcot_rows, caplog):
    with caplog.at_level(logging.INFO, logger="reft_trl.data"):
        dataset = load_task("svamp", "pcot", "train", program_prefix_in_prompt=True)
    assert f"{PROGRAMS_WITH_ANOTHER_DOCSTRING} program(s) in" in caplog.text
    for example, row in zip(dataset, pcot_rows):
        prefix = program_prefix(row["question"])
        assert example["prompt"] == format_prompt(row["question"]) + prefix
        assert example["completion"] == split_program(row["answer_cot"])[1]
        if row["answer_cot"].startswith(prefix):
            assert example["prompt"] + example["completion"] == format_prompt(row["question"]) + row["answer_cot"]
    assert dataset[0]["completion"].startswith("\n    num_species = 29\n")


def test_program_prefix_on_the_test_set_has_no_completion():
    example = load_task("svamp", "pcot", "test", program_prefix_in_prompt=True, limit=1)[0]
    assert example["prompt"].endswith(f'\nAnswer reasoning:\ndef solution():\n    """{example["question"]}"""')
    assert example["completion"] is None


def test_program_prefix_needs_pcot():
    with pytest.raises(ValueError, match="cot='pcot'"):
        load_task("svamp", "ncot", "train", program_prefix_in_prompt=True)


def test_chat_template_has_the_same_text():
    plain = load_task("svamp", "ncot", "train", limit=2)
    chat = load_task("svamp", "ncot", "train", template="chat", limit=2)
    for plain_example, chat_example in zip(plain, chat):
        assert chat_example["prompt"] == [{"role": "user", "content": plain_example["prompt"]}]
        assert chat_example["completion"] == [{"role": "assistant", "content": plain_example["completion"]}]
        assert chat_example["answer"] == plain_example["answer"]


def test_chat_template_with_program_prefix_continues_an_assistant_message():
    example = load_task("svamp", "pcot", "train", template="chat", program_prefix_in_prompt=True, limit=1)[0]
    question = example["question"]
    assert example["prompt"] == [
        {"role": "user", "content": format_prompt(question)},
        {"role": "assistant", "content": program_prefix(question)},
    ]
    assert example["completion"][0]["role"] == "assistant"
    assert example["completion"][0]["content"].startswith("\n    num_species = 29")


def test_chat_examples_are_conversational_for_trl():
    from trl.data_utils import is_conversational

    example = load_task("svamp", "ncot", "train", template="chat", limit=1)[0]
    assert is_conversational(example)
    assert not is_conversational(load_task("svamp", "ncot", "train", limit=1)[0])


def test_test_set():
    dataset = load_task("svamp", "ncot", "test")
    assert set(dataset["completion"]) == {None}
    assert dataset[0] == {
        "prompt": format_prompt(dataset[0]["question"]),
        "completion": None,
        "answer": "14.0",
        "item_id": "svamp_3735",
        "question": "he then went to see the oranges being harvested . he found out that the harvest will go on for "
        "4 days . how many sacks do they harvest per day if they harvested a total of 56 sacks of oranges ?",
    }


def test_original_challenge_set():
    dataset = load_task("svamp", "ncot", "test", source="original")
    assert dataset.num_rows == 1000
    first = dataset[0]
    assert first["item_id"] == "chal-1"
    assert first["question"] == (
        "Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars on each pack "
        "How much do you have to pay to buy each pack?"
    )
    assert first["answer"] == "51.0"
    assert first["completion"] is None


def test_original_has_no_train_split():
    with pytest.raises(ValueError, match="split='test'"):
        load_task("svamp", "ncot", "train", source="original")


def test_svamp_record_on_a_hub_shaped_row():
    hub_row = {
        "ID": "chal-5",
        "Body": " Jack had 8 pens and Mary had 5 pens. Jack gave 3 pens to Mary. ",
        "Question": "How many pens does Jack have now?",
        "Equation": "( 8.0 - 3.0 )",
        "Answer": 5.0,
        "Type": "Subtraction",
        "question_concat": "Jack had 8 pens ...",
    }
    assert svamp_record(hub_row, 0) == {
        "item_id": "chal-5",
        "question": "Jack had 8 pens and Mary had 5 pens. Jack gave 3 pens to Mary. How many pens does Jack have now?",
        "answer_value": "5.0",
        "answer_cot": None,
    }
