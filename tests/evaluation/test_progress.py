"""The evaluation's progress bar counts questions as each batch is generated, not once per round, and generating
batch by batch gives the batches and completions of one `generate` call over the round."""

from __future__ import annotations

import pytest
import tqdm.auto

from reft_trl.data import load_task
from reft_trl.evaluation import evaluate
from reft_trl.evaluation.generation import generate
from tests.utils import tiny_llama


class RecordingBar:
    """Stands in for tqdm: records the updates of the evaluation's bar."""

    bars: list[RecordingBar] = []

    def __init__(self, iterable=(), *, total=None, initial=0, desc="", **kwargs):
        self.iterable, self.total, self.n, self.updates = iterable, total, initial, []
        if desc.startswith("Evaluating"):
            RecordingBar.bars.append(self)

    def __iter__(self):
        return iter(self.iterable)

    def update(self, count=1):
        self.updates.append(count)
        self.n += count

    def close(self):
        pass


@pytest.fixture
def svamp():
    return load_task("svamp", cot="ncot", split="test", limit=7)


@pytest.fixture
def recorded_batches(tokenizer):
    """A tiny model whose `generate` records the prompt rows of each call."""
    model = tiny_llama(len(tokenizer))
    calls = []
    original = model.generate

    def recording_generate(input_ids, attention_mask, **kwargs):
        calls.append([tuple(row) for row in input_ids.tolist()])
        return original(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    model.generate = recording_generate
    return model, calls


@pytest.mark.parametrize(("mode", "kwargs"), [("greedy", {}), ("voting", {"k": 3})])
def test_the_bar_counts_questions_batch_by_batch(tokenizer, svamp, recorded_batches, monkeypatch, mode, kwargs):
    model, calls = recorded_batches
    monkeypatch.setattr(tqdm.auto, "tqdm", RecordingBar)
    RecordingBar.bars.clear()
    summary = evaluate(
        model, tokenizer, svamp, "svamp", "ncot", mode=mode, batch_size=6, max_new_tokens=4, output_dir=None,
        print_summary=False, **kwargs,
    )  # fmt: skip
    (bar,) = RecordingBar.bars
    per_call = 6 if mode == "greedy" else 2  # prompts per generate call: batch_size // samples per question
    assert bar.total == 7 and bar.n == 7
    assert bar.updates == [per_call] * (7 // per_call) + [7 % per_call]
    assert summary["n"] == 7

    # The same batches, in the same order, as one `generate` call over the round
    evaluated_calls = list(calls)
    calls.clear()
    generate(
        model, tokenizer, svamp["prompt"], num_samples=3 if mode == "voting" else 1, greedy=mode == "greedy",
        batch_size=6, max_new_tokens=4, show_progress=False, top_k=0,
    )  # fmt: skip
    assert evaluated_calls == calls


def test_greedy_answers_match_one_generate_call(tokenizer, svamp, tmp_path):
    model = tiny_llama(len(tokenizer))
    evaluate(model, tokenizer, svamp, "svamp", "ncot", batch_size=3, max_new_tokens=6, output_dir=str(tmp_path),
             print_summary=False, show_progress=False)  # fmt: skip
    from reft_trl.evaluation import read_predictions

    records = read_predictions(str(tmp_path / "svamp-ncot-greedy.predictions.jsonl"))
    expected = generate(model, tokenizer, svamp["prompt"], batch_size=3, max_new_tokens=6, show_progress=False)
    assert [record["completions"] for record in records] == expected
