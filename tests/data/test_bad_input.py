"""Bad files and rows: `DataFormatError` names the file, row, item id and field; `skip_bad_rows` skips them."""

import json

import pytest

from reft_trl.data import DataFormatError, load_task
from reft_trl.data.gsm8k import gsm8k_record

GOOD = {"item_id": "svamp_0", "question": "Tom has 2 pens and buys 3. How many?", "answer_value": "5.0"}


def write_json(tmp_path, rows, name="rows.json"):
    path = tmp_path / name
    path.write_text(json.dumps(rows), encoding="utf-8")
    return str(path)


def load_svamp_file(path, **options):
    return load_task("svamp", "ncot", "test", source=path, **options)


def test_error_is_a_value_error():
    assert issubclass(DataFormatError, ValueError)


def test_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"question": "a", "answer_value": "1"},\n  {"question": "b" "answer_value": "2"}\n]')
    with pytest.raises(DataFormatError, match=r"broken\.json, line 3: malformed JSON"):
        load_svamp_file(str(path))
    with pytest.raises(DataFormatError, match="malformed JSON"):
        load_svamp_file(str(path), skip_bad_rows=True)  # a broken array has no rows to keep


def test_a_json_object_instead_of_rows(tmp_path):
    with pytest.raises(
        DataFormatError, match=r"row 0, field 'question': missing field 'question' \(fields present: \['data'\]\)"
    ):
        load_svamp_file(write_json(tmp_path, {"data": [GOOD]}))


def test_malformed_jsonl_line_names_the_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(GOOD) + "\n{not json}\n" + json.dumps({**GOOD, "item_id": "svamp_2"}) + "\n")
    with pytest.raises(DataFormatError, match=r"rows\.jsonl, line 2, row 1: malformed JSON line"):
        load_svamp_file(str(path))
    with pytest.warns(UserWarning, match=r"skipped 1 bad row\(s\) of .*rows\.jsonl"):
        dataset = load_svamp_file(str(path), skip_bad_rows=True)
    assert dataset["item_id"] == ["svamp_0", "svamp_2"]


BAD_ROW_ID = r"row 1 \(item_id 'svamp_1'\), "


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ({"item_id": "svamp_1", "answer_value": "5.0"}, BAD_ROW_ID + "field 'question': missing field 'question'"),
        ({"item_id": "svamp_1", "question": "How many?"}, BAD_ROW_ID + "field 'answer_value': missing field"),
        ({**GOOD, "item_id": "svamp_1", "question": "   "}, BAD_ROW_ID + "field 'question': empty question"),
        ({**GOOD, "item_id": "svamp_1", "question": None}, BAD_ROW_ID + "field 'question': empty question"),
        ({**GOOD, "item_id": "svamp_1", "answer_value": None}, BAD_ROW_ID + "field 'answer_value': missing answer"),
        ({**GOOD, "item_id": "svamp_1", "answer_value": " "}, BAD_ROW_ID + "field 'answer_value': missing answer"),
        (
            {**GOOD, "item_id": "svamp_1", "answer_value": "five"},
            BAD_ROW_ID + "field 'answer_value': not a number: 'five'",
        ),
        ({**GOOD, "item_id": "svamp_1", "answer_value": "nan"}, BAD_ROW_ID + "field 'answer_value': not a number"),
        (
            {**GOOD, "item_id": "svamp_1", "answer_value": "1_000"},
            BAD_ROW_ID
            + r"field 'answer_value': not a number: '1_000' \(underscores are not digit separators; write 1000\)",
        ),
        ({**GOOD, "item_id": "svamp_1", "answer_value": [5]}, BAD_ROW_ID + "field 'answer_value': not a number"),
        ({**GOOD, "item_id": "svamp_1", "answer_cot": ""}, BAD_ROW_ID + "field 'answer_cot': empty or non-text"),
        (["not", "an", "object"], r"row 1: row is not a JSON object"),
    ],
)
def test_bad_rows_raise_with_file_row_and_field(tmp_path, bad_row, message):
    path = write_json(tmp_path, [GOOD, bad_row, {**GOOD, "item_id": "svamp_2"}], name="svamp_rows.json")
    with pytest.raises(DataFormatError, match=r"svamp_rows\.json, " + message):
        load_svamp_file(path)
    with pytest.warns(UserWarning, match="skipped 1 bad row"):
        dataset = load_svamp_file(path, skip_bad_rows=True)
    assert dataset["item_id"] == ["svamp_0", "svamp_2"]


@pytest.mark.parametrize(
    ("answer", "question", "message"),
    [
        ("f", "q ?\na ) 1 , b ) 2 , c ) 3 , d ) 4 , e ) 5", r"field 'answer_value': bad option letter 'f'"),
        ("12", "q ?\na ) 1 , b ) 2 , c ) 3 , d ) 4 , e ) 5", r"field 'answer_value': bad option letter '12'"),
        ("c", "q ?\na ) 1 , b ) 2", r"field 'answer_value': bad option letter 'c'; the question offers \['a', 'b'\]"),
        ("a", "what is 2 + 3 ?", r"field 'question': no multiple-choice options"),
    ],
)
def test_bad_mathqa_answers(tmp_path, answer, question, message):
    path = write_json(tmp_path, [{"item_id": "mathqa_7", "question": question, "answer_value": answer}])
    with pytest.raises(DataFormatError, match=r"row 0 \(item_id 'mathqa_7'\), " + message):
        load_task("mathqa", "ncot", "test", source=path)


def test_non_numeric_gold_for_mathqa_numeric(tmp_path):
    path = write_json(tmp_path, [{"item_id": "mathqa-numeric_3", "question": "q ?", "answer_value": "a"}])
    with pytest.raises(DataFormatError, match=r"field 'answer_value': not a number: 'a'"):
        load_task("mathqa_numeric", "ncot", "test", source=path)


def test_program_without_its_opening_line_cannot_move_the_prefix(tmp_path):
    rows = [{**GOOD, "answer_cot": "    result = 5\n    return result"}]
    path = write_json(tmp_path, rows)
    assert load_task("svamp", "pcot", "train", source=path)[0]["completion"].startswith("result = 5")
    with pytest.raises(DataFormatError, match=r"row 0 \(item_id 'svamp_0'\), field 'answer_cot': program does not"):
        load_task("svamp", "pcot", "train", source=path, program_prefix_in_prompt=True)


def test_gsm8k_solution_without_final_answer():
    with pytest.raises(DataFormatError, match=r"field 'answer': no final '#### N' line"):
        gsm8k_record({"question": "q", "answer": "2 + 3 = 5"}, 0)


def test_gsm8k_original_style_bad_row_is_located(tmp_path, monkeypatch):
    import datasets

    rows = [{"question": "q", "answer": "5\n#### 5"}, {"question": "q", "answer": "no answer"}]
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: datasets.Dataset.from_list(rows))
    with pytest.raises(DataFormatError, match=r"hub:openai/gsm8k\[main\]/train, row 1, field 'answer': no final"):
        load_task("gsm8k", "ncot", "train", source="hub")


def test_all_rows_bad_gives_an_empty_dataset_with_the_columns(tmp_path):
    path = write_json(tmp_path, [{"question": "", "answer_value": "1"}])
    with pytest.warns(UserWarning, match="skipped 1"):
        dataset = load_svamp_file(path, skip_bad_rows=True)
    assert dataset.num_rows == 0
    assert dataset.column_names == ["prompt", "completion", "answer", "item_id", "question"]
