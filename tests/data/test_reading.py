"""Data files that are not what they should be: not UTF-8, a byte-order mark, empty, a silent server."""

from __future__ import annotations

import doctest
import json
import socket
import threading

import pytest

from reft_trl.data import DataFormatError, load_task
from reft_trl.data.reading import URL_TIMEOUT_ENV, url_timeout

ROWS = [
    {"item_id": f"svamp_{i}", "question": f"Tom has {i} pens and buys 3. How many?", "answer_value": f"{i + 3}.0"}
    for i in range(5)
]


def load_svamp_file(path, **options):
    return load_task("svamp", "ncot", "test", source=str(path), **options)


def test_a_latin1_file_is_named_with_the_byte_offset(tmp_path):
    path = tmp_path / "latin1.jsonl"
    text = (
        json.dumps(ROWS[0])
        + "\n"
        + json.dumps({**ROWS[1], "question": "Zoé has 2 pens. How many?"}, ensure_ascii=False)
    )
    data = text.encode("latin-1")
    path.write_bytes(data)
    offset = data.index("é".encode("latin-1"))
    with pytest.raises(DataFormatError, match=rf"latin1\.jsonl, line 2: not UTF-8 text: byte {offset} \(0xe9\)"):
        load_svamp_file(path)


@pytest.mark.parametrize("layout", ["lines", "array"])
def test_a_byte_order_mark_is_not_part_of_the_data(tmp_path, layout):
    path = tmp_path / f"bom.{'jsonl' if layout == 'lines' else 'json'}"
    text = "\n".join(json.dumps(row) for row in ROWS) if layout == "lines" else json.dumps(ROWS, indent=1)
    path.write_text(text, encoding="utf-8-sig")
    assert load_svamp_file(path, skip_bad_rows=True)["item_id"] == [row["item_id"] for row in ROWS]


@pytest.mark.parametrize(("content", "reason"), [("", "the file is empty"), ("\n \n", "the file is empty"),
                                                 ("[]", "the file holds an empty JSON array")])  # fmt: skip
def test_an_empty_file_is_refused_by_name(tmp_path, content, reason):
    path = tmp_path / "empty.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"empty\.json: {reason}"):
        load_svamp_file(path)


def test_a_silent_server_times_out_naming_the_url(monkeypatch):
    monkeypatch.setenv(URL_TIMEOUT_ENV, "0.5")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()  # accepts connections into its backlog and never answers
    url = f"http://127.0.0.1:{server.getsockname()[1]}/train.json"
    outcome = {}

    def load():
        try:
            load_svamp_file(url)
        except Exception as error:  # the outcome is checked below
            outcome["error"] = error

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(timeout=20)
    server.close()
    assert not reader.is_alive(), "reading a silent server did not time out"
    assert isinstance(outcome["error"], TimeoutError)
    assert f"{url}: no answer within 0.5 s" in str(outcome["error"])


def test_the_url_timeout_is_sixty_seconds_unless_set(monkeypatch):
    monkeypatch.delenv(URL_TIMEOUT_ENV, raising=False)
    assert url_timeout() == 60.0
    monkeypatch.setenv(URL_TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match=rf"{URL_TIMEOUT_ENV}='soon': set it to a number of seconds > 0"):
        url_timeout()


def test_doctests_pass():
    from reft_trl.data import reading

    results = doctest.testmod(reading)
    assert results.attempted > 0 and results.failed == 0
