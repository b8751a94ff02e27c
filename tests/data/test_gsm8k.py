"""GSM8K: original solutions converted to ReFT N-CoT, the ReFT test set, and missing-data errors."""

import json

import pytest

from reft_trl.answer_format import ANSWER_TRIGGER
from reft_trl.data import load_task
from reft_trl.data.gsm8k import gsm8k_record, split_final_answer, strip_calculator_annotations
from reft_trl.data.reading import bundled_file


@pytest.fixture(scope="module")
def train():
    return load_task("gsm8k", "ncot", "train")


@pytest.fixture(scope="module")
def test_set():
    return load_task("gsm8k", "ncot", "test")


def test_calculator_marks_are_removed_not_kept_as_prose():
    assert (
        strip_calculator_annotations("She makes 9 * 2 = $<<9*2=18>>18 every day.")
        == "She makes 9 * 2 = $18 every day."
    )


def test_final_answer_line_is_split_off():
    assert split_final_answer("a\nb\n#### 1,000") == ("a\nb", "1,000")


def test_default_train_is_the_original_file_in_reft_form(train):
    assert train.num_rows == 7473
    assert train.column_names == ["prompt", "completion", "answer", "item_id", "question"]
    first = train[0]
    assert first["item_id"] == "gsm8k_0"
    assert first["answer"] == "72"
    assert first["prompt"] == f"Question:\n{first['question']}\nAnswer reasoning:\n"
    assert first["completion"] == (
        "Natalia sold 48/2 = 24 clips in May.\n"
        "Natalia sold 48+24 = 72 clips altogether in April and May.\n"
        "Therefore, the answer is: 72"
    )


def test_every_train_row_is_clean_and_has_a_numeric_answer(train):
    for completion, answer in zip(train["completion"], train["answer"]):
        assert "<<" not in completion and ">>" not in completion and "####" not in completion
        assert completion.endswith(f"\n{ANSWER_TRIGGER} {answer}")
        assert "," not in answer
        float(answer)


def test_thousands_commas_leave_the_answer(train):
    raw = [json.loads(line) for line in bundled_file("gsm8k", "train.jsonl").read_text("utf-8").splitlines()]
    with_commas = [index for index, row in enumerate(raw) if "," in row["answer"].rsplit("####", 1)[1]]
    assert len(with_commas) == 79  # answers written like "1,080"
    for index in with_commas:
        expected = raw[index]["answer"].rsplit("####", 1)[1].strip().replace(",", "")
        assert train[index]["answer"] == expected
        assert train[index]["completion"].endswith(f"Therefore, the answer is: {expected}")


def test_record_keeps_the_source_answer_text():
    row = {"question": "How many?", "answer": "10 * 100 = <<10*100=1000>>1,000\n#### 1,000"}
    assert gsm8k_record(row, 3) == {
        "item_id": "gsm8k_3",
        "question": "How many?",
        "answer_value": "1,000",
        "answer_cot": "10 * 100 = 1,000",
    }


def test_reft_test_set(test_set):
    assert test_set.num_rows == 1319
    assert set(test_set["completion"]) == {None}
    assert test_set[0]["answer"] == "18"
    assert test_set[0]["item_id"] == "gsm8k_0"


def test_original_test_answers_agree_with_the_reft_test_set(test_set):
    original = load_task("gsm8k", "ncot", "test", source="original")
    assert original.num_rows == 1319
    assert original["answer"] == test_set["answer"]
    assert original[0]["completion"].endswith("\nTherefore, the answer is: 18")
    assert "$18 every day" in original[0]["completion"]


def test_pcot_train_has_no_offline_default_and_says_what_to_pass():
    with pytest.raises(ValueError, match="source=") as raised:
        load_task("gsm8k", "pcot", "train")
    assert "ReFT-format" in str(raised.value) and "'hub'" in str(raised.value)


def test_pcot_from_the_original_file_gives_questions_without_programs():
    dataset = load_task("gsm8k", "pcot", "train", source="original", limit=3, program_prefix_in_prompt=True)
    assert dataset["completion"] == [None, None, None]
    assert dataset[0]["prompt"].endswith(f'Answer reasoning:\ndef solution():\n    """{dataset[0]["question"]}"""')


def test_no_bundled_reft_train_file():
    with pytest.raises(ValueError, match="source='original'"):
        load_task("gsm8k", "ncot", "train", source="reft")
