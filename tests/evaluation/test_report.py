"""The predictions file: resuming keeps every good record whatever else the file holds, and any text can be written."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from reft_trl.evaluation import evaluate
from reft_trl.evaluation.report import PredictionWriter, read_predictions


def record(index: int, **fields) -> dict:
    """A question's record as `evaluate` writes it (the fields resuming reads, and a question)."""
    base = {
        "item_id": f"q{index}",
        "question": f"question {index}",
        "completions": [f"Therefore, the answer is: {index}"],
        "extracted": [str(index)],
        "correct": [True],
        "score": 1.0,
    }
    return {**base, **fields}


def jsonl(records) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in records)


def test_a_corrupt_middle_line_costs_only_itself_and_the_file_is_left_alone(tmp_path):
    """Reading used to stop at the first bad line and cut the file there: one bad line deleted 150 of 200 records."""
    path = tmp_path / "run.predictions.jsonl"
    lines = jsonl(record(index) for index in range(200)).split(b"\n")
    lines[50] = b'{"item_id": "q50", "compl'
    path.write_bytes(b"\n".join(lines))
    before = path.read_bytes()
    with pytest.warns(UserWarning, match=rf"{path}: skipped 1 line\(s\) .*: line 51 \(not JSON, cut short\?\)"):
        records = read_predictions(path)
    assert [item["item_id"] for item in records] == [f"q{index}" for index in range(200) if index != 50]
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        (b'{"item_id": "q1", "question": "caf\xc3', r"not UTF-8 text, cut short\?"),
        (b"{}", "no field 'item_id'"),
        (b"5", "a JSON int, not an object"),
        (b'["q1"]', "a JSON list, not an object"),
        (json.dumps(record(1, completions="7")).encode(), "field 'completions' is a str"),
        (json.dumps(record(1, correct=[True, False])).encode(), "completions, extracted and correct differ in length"),
        (json.dumps(record(1, score=float("nan"))).encode(), "score nan is not finite"),
        (json.dumps(record(1, prompt_sha256=7)).encode(), "field 'prompt_sha256' is a int"),
    ],
)
def test_a_line_that_is_not_a_record_is_skipped_and_named(tmp_path, bad_line, reason):
    """A cut UTF-8 character, `{}` or a bare number used to crash resume without naming the file or the line."""
    path = tmp_path / "run.predictions.jsonl"
    path.write_bytes(jsonl([record(0)]) + bad_line + b"\n" + jsonl([record(2)]))
    with pytest.warns(UserWarning, match=rf"{path}: .*line 2 \({reason}\)"):
        records = read_predictions(path)
    assert [item["item_id"] for item in records] == ["q0", "q2"]


def test_a_last_record_without_a_newline_is_not_glued_to_the_next(tmp_path):
    path = tmp_path / "run.predictions.jsonl"
    path.write_bytes(jsonl([record(0)]) + json.dumps(record(1)).encode())
    with PredictionWriter(path, append=True) as writer:
        writer.write(record(2))
    assert read_predictions(path) == [record(0), record(1), record(2)]


def test_a_last_line_cut_short_is_dropped_before_appending(tmp_path):
    path = tmp_path / "run.predictions.jsonl"
    path.write_bytes(jsonl([record(0)]) + b'{"item_id": "q1", "question": "caf\xc3')
    with PredictionWriter(path, append=True) as writer:
        writer.write(record(1))
    assert path.read_bytes() == jsonl([record(0), record(1)])


def test_text_utf8_cannot_encode_is_written_and_reads_back_the_same(tmp_path):
    """A lone surrogate in a completion or a program's value used to crash the writer."""
    path = tmp_path / "run.predictions.jsonl"
    odd = record(0, completions=["x = '\ud800'"], extracted=["\udfff"])
    plain = record(1, question="café ½")
    with PredictionWriter(path) as writer:
        writer.write(odd)
        writer.write(plain)
    assert read_predictions(path) == [odd, plain]
    assert "café ½" in path.read_text(encoding="utf-8")  # other text stays readable


def test_a_repeated_item_id_keeps_its_first_record(tmp_path):
    """Two records of one question used to count twice, leaving a resumed run at `complete: false`."""
    path = tmp_path / "run.predictions.jsonl"
    path.write_bytes(jsonl([record(0), record(1), record(0, score=0.0)]))
    with pytest.warns(UserWarning, match=r"line 3 \(item_id 'q0' again \(first on line 1\)\)"):
        records = read_predictions(path)
    assert records == [record(0), record(1)]


def test_a_dataset_that_repeats_an_item_id_is_refused_before_evaluating():
    """A repeated id in the dataset left a resumed run one question short for ever."""
    dataset = Dataset.from_dict(
        {
            "prompt": ["a", "b", "c"],
            "answer": ["1", "2", "3"],
            "item_id": ["q0", "q1", "q0"],
            "question": ["a", "b", "c"],
        }
    )
    with pytest.raises(ValueError, match=r"repeats item_id 'q0' \(rows 0 and 2\)"):
        evaluate("model-never-loaded", "tokenizer-never-loaded", dataset, "svamp")
