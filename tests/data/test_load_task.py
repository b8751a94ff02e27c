"""`load_task`: dispatch, argument errors, `limit`, user files and URLs, the Hub path, loading time."""

import json
import time

import datasets
import pytest

from reft_trl.data import COTS, TASKS, load_task
from reft_trl.data.templates import format_prompt

COLUMNS = ["prompt", "completion", "answer", "item_id", "question"]
BUNDLED = [
    ("gsm8k", "ncot", "train", 7473),
    ("gsm8k", "ncot", "test", 1319),
    ("svamp", "ncot", "train", 3076),
    ("svamp", "pcot", "train", 3043),
    ("svamp", "ncot", "test", 1000),
    ("mathqa", "ncot", "test", 1605),
    ("mathqa_numeric", "ncot", "test", 1605),
]


def test_public_names():
    assert TASKS == ("gsm8k", "svamp", "mathqa", "mathqa_numeric")
    assert COTS == ("ncot", "pcot")


@pytest.mark.parametrize(("task", "cot", "split", "rows"), BUNDLED)
def test_every_bundled_default_loads_fast_with_the_same_columns(task, cot, split, rows):
    start = time.perf_counter()
    dataset = load_task(task, cot, split)
    seconds = time.perf_counter() - start
    assert dataset.num_rows == rows
    assert dataset.column_names == COLUMNS
    assert seconds < 1.0, f"{task} {cot} {split} took {seconds:.2f} s"
    assert all(isinstance(item_id, str) for item_id in dataset["item_id"])
    assert len(set(dataset["item_id"])) == rows


@pytest.mark.parametrize(
    ("arguments", "valid"),
    [
        ({"task": "gsm9k"}, "'gsm8k', 'svamp', 'mathqa', 'mathqa_numeric'"),
        ({"task": "svamp", "cot": "tot"}, "'ncot', 'pcot'"),
        ({"task": "svamp", "split": "dev"}, "'train', 'test'"),
        ({"task": "svamp", "template": "alpaca"}, "'reft', 'chat'"),
    ],
)
def test_unknown_keys_list_the_valid_ones(arguments, valid):
    with pytest.raises(ValueError, match=valid):
        load_task(**arguments)


def test_unknown_source_that_is_no_file():
    with pytest.raises(FileNotFoundError, match="'reft', 'original', 'hub'"):
        load_task("svamp", source="no/such/file.json")


@pytest.mark.parametrize("limit", [0, 1, 5])
def test_limit_keeps_the_first_rows(limit):
    full = load_task("svamp", "ncot", "test")
    limited = load_task("svamp", "ncot", "test", limit=limit)
    assert limited["item_id"] == full["item_id"][:limit]
    assert limited.column_names == COLUMNS


def test_bad_limit():
    with pytest.raises(ValueError, match="limit"):
        load_task("svamp", limit=-1)


def write_reft_file(path, rows, *, lines=False):
    text = "\n".join(json.dumps(row) for row in rows) if lines else json.dumps(rows)
    path.write_text(text, encoding="utf-8")
    return path


REFT_ROWS = [
    {
        "item_id": "gsm8k_py_0",
        "question": "Tom has 2 pens and buys 3. How many?",
        "answer_cot": "2 + 3 = 5",
        "answer_value": "5",
    },
    {"item_id": "gsm8k_py_1", "question": "Ann has 1,000 coins.", "answer_cot": "1000", "answer_value": " 1,000 "},
]


@pytest.mark.parametrize("lines", [False, True], ids=["json", "jsonl"])
def test_a_reft_format_file_as_source(tmp_path, lines):
    path = write_reft_file(tmp_path / ("train.jsonl" if lines else "train.json"), REFT_ROWS, lines=lines)
    dataset = load_task("gsm8k", "ncot", "train", source=str(path))
    assert dataset["item_id"] == ["gsm8k_py_0", "gsm8k_py_1"]
    assert dataset["answer"] == ["5", "1000"]
    assert dataset[0]["completion"] == "2 + 3 = 5\nTherefore, the answer is: 5"
    assert dataset[0]["prompt"] == format_prompt(REFT_ROWS[0]["question"])


def test_a_path_object_as_source(tmp_path):
    path = write_reft_file(tmp_path / "test.json", REFT_ROWS)
    assert load_task("gsm8k", "ncot", "test", source=path)["item_id"] == ["gsm8k_py_0", "gsm8k_py_1"]


def test_a_file_url_as_source(tmp_path):
    path = write_reft_file(tmp_path / "test.json", REFT_ROWS)
    dataset = load_task("gsm8k", "ncot", "test", source=path.as_uri())
    assert dataset.num_rows == 2
    assert dataset["answer"] == ["5", "1000"]


def test_a_user_file_without_item_ids_or_chains_of_thought(tmp_path):
    rows = [{"question": "1 + 1 ?\na ) 2 , b ) 3", "answer_value": "A"}]
    dataset = load_task("mathqa", "pcot", "train", source=str(write_reft_file(tmp_path / "mq.json", rows)))
    assert dataset[0]["item_id"] == "mathqa_0"
    assert dataset[0]["answer"] == "a"
    assert dataset[0]["completion"] is None


def test_a_user_pcot_file_with_the_program_prefix(tmp_path):
    question = "Tom has 2 pens and buys 3. How many?"
    program = f'def solution():\n    """{question}"""\n    result = 2 + 3\n    return result'
    rows = [{"item_id": "g_0", "question": question, "answer_cot": program, "answer_value": "5"}]
    path = write_reft_file(tmp_path / "pcot.json", rows)
    dataset = load_task("gsm8k", "pcot", "train", source=str(path), program_prefix_in_prompt=True)
    assert dataset[0]["prompt"] + dataset[0]["completion"] == format_prompt(question) + program
    assert dataset[0]["completion"] == "\n    result = 2 + 3\n    return result"


def test_a_pcot_program_without_a_body_is_a_bad_row(tmp_path):
    question = "Tom has 2 pens and buys 3. How many?"
    rows = [
        {
            "item_id": "g_0",
            "question": question,
            "answer_cot": f'def solution():\n    """{question}"""',
            "answer_value": "5",
        }
    ]
    path = write_reft_file(tmp_path / "pcot.json", rows)
    with pytest.raises(ValueError, match="no body after its docstring"):
        load_task("gsm8k", "pcot", "train", source=str(path), program_prefix_in_prompt=True)


class FakeHub:
    """Stands in for `datasets.load_dataset`: records the call and returns Hub-shaped rows."""

    def __init__(self, rows):
        self.rows = rows
        self.calls = []

    def __call__(self, path, name=None, split=None, **kwargs):
        self.calls.append((path, name, split))
        return datasets.Dataset.from_list(self.rows)


def test_hub_gsm8k_runs_the_same_mapping_as_the_original_file(monkeypatch):
    original = load_task("gsm8k", "ncot", "train", source="original", limit=3)
    hub = FakeHub([{"question": q, "answer": a} for q, a in zip(*_original_gsm8k_rows(3))])
    monkeypatch.setattr(datasets, "load_dataset", hub)
    dataset = load_task("gsm8k", "ncot", "train", source="hub")
    assert hub.calls == [("openai/gsm8k", "main", "train")]
    assert dataset.to_list() == original.to_list()


def _original_gsm8k_rows(count):
    from reft_trl.data.reading import bundled_file

    rows = [json.loads(line) for line in bundled_file("gsm8k", "train.jsonl").read_text("utf-8").splitlines()[:count]]
    return [row["question"] for row in rows], [row["answer"] for row in rows]


def test_hub_svamp(monkeypatch):
    row = {"ID": "chal-1", "Body": "Dan had $ 4 .", "Question": "How much ?", "Equation": "( 4.0 )", "Answer": 4.0}
    hub = FakeHub([{**row, "Type": "Subtraction", "question_concat": "x"}])
    monkeypatch.setattr(datasets, "load_dataset", hub)
    dataset = load_task("svamp", "ncot", "test", source="hub", template="chat")
    assert hub.calls == [("ChilleD/SVAMP", None, "test")]
    assert dataset[0]["prompt"] == [
        {"role": "user", "content": "Question:\nDan had $ 4 . How much ?\nAnswer reasoning:\n"}
    ]
    assert dataset[0]["answer"] == "4.0"


def test_hub_mathqa_train_both_forms(monkeypatch):
    rows = [
        {
            "Problem": "2 + 3 = ?",
            "Rationale": '"2 + 3 = 5"',
            "options": "a ) 5 , b ) 6 , c ) 7 , d ) 8 , e ) 9",
            "correct": "a",
        },
        {
            "Problem": "x ?",
            "Rationale": '"none"',
            "options": "a ) 1 , b ) 2 , c ) 3 , d ) 4 , e ) none",
            "correct": "e",
        },
    ]
    hub = FakeHub(rows)
    monkeypatch.setattr(datasets, "load_dataset", hub)
    choice = load_task("mathqa", "ncot", "train", source="hub")
    assert choice["answer"] == ["a", "e"]
    assert choice[0]["completion"] == "2 + 3 = 5\nTherefore, the answer is: a"
    assert choice[0]["question"] == "2 + 3 = ?\na ) 5 , b ) 6 , c ) 7 , d ) 8 , e ) 9"
    numeric = load_task("mathqa_numeric", "ncot", "train", source="hub")
    assert numeric.num_rows == 1  # "none" is not a number: that problem is not part of MathQA-numeric
    assert numeric[0]["completion"] == "2 + 3 = 5\nTherefore, the answer is: 5.0"
    assert numeric[0]["item_id"] == "mathqa-numeric_0"
    assert hub.calls == [("allenai/math_qa", None, "train")] * 2
