"""The evaluation driver: a tiny random model end to end on 4 SVAMP test questions, and a scripted model whose
completions are known, so every mode's accuracy is known in advance; interrupted runs keep their questions."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import pytest
import torch

from reft_trl.data import load_task
from reft_trl.evaluation import evaluate, read_predictions
from reft_trl.evaluation.evaluator import prompt_digest
from reft_trl.evaluation.generation import encode_prompt
from tests.utils import PackingCount, can_pack_here, linear_layers, tiny_llama, with_system_prompt_template

RECORD_KEYS = {
    "item_id",
    "question",
    "answer",
    "completions",
    "extracted",
    "correct",
    "chosen",
    "chosen_index",
    "score",
    "prompt_sha256",
}


class ScriptedModel(torch.nn.Module):
    """Stands in for a causal LM: for each prompt (as `encode_prompt` tokenizes it with `chat_template_kwargs`) it
    writes the next of that prompt's scripted completions."""

    def __init__(self, tokenizer, script: dict | list[tuple], **chat_template_kwargs):
        super().__init__()
        self.generation_config = None
        self.eos = tokenizer.eos_token_id
        self.script = {
            tuple(encode_prompt(tokenizer, prompt, **chat_template_kwargs)): [
                tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts
            ]
            for prompt, texts in (script.items() if isinstance(script, dict) else script)
        }
        self.drawn = defaultdict(int)

    @property
    def device(self):
        return torch.device("cpu")

    def generate(self, input_ids, attention_mask, generation_config):
        rows = []
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist()):
            prompt = tuple(token for token, keep in zip(ids, mask) if keep)
            for _ in range(generation_config.num_return_sequences):
                texts = self.script[prompt]
                rows.append(ids + texts[self.drawn[prompt] % len(texts)] + [self.eos])
                self.drawn[prompt] += 1
        width = max(len(row) for row in rows)
        return torch.tensor([row + [self.eos] * (width - len(row)) for row in rows])


@pytest.fixture(scope="module")
def svamp():
    return load_task("svamp", cot="ncot", split="test", limit=4)


def answer_line(value) -> str:
    return f"Some reasoning.\nTherefore, the answer is: {value}"


@pytest.fixture
def scripted(tokenizer, svamp):
    """Three samples per question with known outcomes (golds g0..g3):
    q0: g0, g0 + 1, g0 written as "x.0"  -> greedy right, vote right, 2 of 3 right
    q1: g1 + 1, g1 + 1, g1              -> greedy wrong, vote wrong, 1 of 3 right
    q2: "#### g2", no answer, no answer -> right only with flexible extraction; the only vote
    q3: no answer three times           -> always wrong
    """
    golds = [float(answer) for answer in svamp["answer"]]
    script = {
        svamp[0]["prompt"]: [
            answer_line(f"{golds[0]:g}"),
            answer_line(f"{golds[0] + 1:g}"),
            answer_line(f"{golds[0]:.1f}"),
        ],
        svamp[1]["prompt"]: [
            answer_line(f"{golds[1] + 1:g}"),
            answer_line(f"{golds[1] + 1:g}"),
            answer_line(f"{golds[1]:g}"),
        ],
        svamp[2]["prompt"]: [f"So it is\n#### {golds[2]:g}", "I cannot tell.", "I cannot tell."],
        svamp[3]["prompt"]: ["I cannot tell."] * 3,
    }
    return lambda: ScriptedModel(tokenizer, script)


def prefer_last(prompt, completions):
    """A stub verifier that trusts later samples more."""
    return [float(index) for index in range(len(completions))]


def run(model, tokenizer, dataset, **kwargs):
    kwargs.setdefault("show_progress", False)
    kwargs.setdefault("print_summary", False)
    return evaluate(model, tokenizer, dataset, "svamp", "ncot", **kwargs)


def test_tiny_model_end_to_end_writes_predictions_and_summary(tokenizer, svamp, tmp_path, capsys):
    summary = run(
        tiny_llama(len(tokenizer)), tokenizer, svamp, output_dir=str(tmp_path), max_new_tokens=8, print_summary=True
    )

    predictions = tmp_path / "svamp-ncot-greedy.predictions.jsonl"
    assert summary["predictions"] == str(predictions)
    records = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert [record["item_id"] for record in records] == svamp["item_id"]
    assert [record["answer"] for record in records] == svamp["answer"]
    for record, prompt in zip(records, svamp["prompt"], strict=True):
        assert set(record) >= RECORD_KEYS
        assert record["prompt_sha256"] == prompt_digest(tokenizer, prompt)
        assert len(record["completions"]) == len(record["extracted"]) == len(record["correct"]) == 1
        assert record["chosen"] == record["extracted"][0]
    assert summary["accuracy"] == sum(record["correct"][0] for record in records) / 4
    assert summary["accuracy"] == sum(record["score"] for record in records) / 4

    written = json.loads((tmp_path / "svamp-ncot-greedy.summary.json").read_text())
    assert written == json.loads(json.dumps(summary))
    assert (written["task"], written["cot"], written["mode"], written["k"], written["n"]) == (
        "svamp",
        "ncot",
        "greedy",
        1,
        4,
    )
    assert written["complete"] and not written["strict"] and written["backend"] == "hf"
    assert {"generation_s", "extraction_s", "total_s"} <= set(written["timings"])
    assert {"torch", "transformers", "trl"} <= set(written["versions"])

    table = capsys.readouterr().out.strip().splitlines()
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in table)
    assert rows["accuracy"] == f"{100 * summary['accuracy']:.2f}%" and rows["questions"] == "4"
    assert len({line.index(value, len(name)) for line, (name, value) in zip(table, rows.items())}) == 1  # aligned


def test_a_static_cache_and_a_shrinking_batch_evaluate_as_the_default_cache(tokenizer, svamp, tmp_path):
    model = tiny_llama(len(tokenizer))
    completions = {}
    for hf_decoding in ("dynamic", "static", "shrinking"):
        summary = run(
            model, tokenizer, svamp, output_dir=str(tmp_path / hf_decoding), max_new_tokens=8, batch_size=2,
            hf_decoding=hf_decoding,
        )  # fmt: skip
        completions[hf_decoding] = [record["completions"] for record in read_predictions(summary["predictions"])]
    assert completions["static"] == completions["dynamic"] == completions["shrinking"]
    assert len(completions["static"]) == len(svamp)


@pytest.mark.skipif(not can_pack_here(), reason="needs a CPU with native bf16 and oneDNN's packing ops")
def test_a_bf16_model_is_evaluated_alike_from_weights_packed_once(tokenizer, svamp, tmp_path, monkeypatch):
    model = tiny_llama(len(tokenizer), tie_word_embeddings=False).to(torch.bfloat16)
    settings = dict(max_new_tokens=8, batch_size=2, chunk_size=2)  # two rounds of one `generate` call each
    unpacked = run(model, tokenizer, svamp, output_dir=str(tmp_path / "unpacked"), pack_weights=False, **settings)
    count = PackingCount(monkeypatch)
    packed = run(model, tokenizer, svamp, output_dir=str(tmp_path / "packed"), **settings)
    assert count.packings == linear_layers(model) and count.products > 0
    assert not any("forward" in vars(module) for module in model.modules())
    completions = [
        [record["completions"] for record in read_predictions(summary["predictions"])]
        for summary in (unpacked, packed)
    ]
    assert completions[0] == completions[1]
    assert len(completions[0]) == len(svamp)


@pytest.mark.parametrize(
    ("mode", "kwargs", "accuracy"),
    [
        ("greedy", {}, 0.5),  # q0 and q2 ("#### g2" read by flexible extraction)
        ("greedy", {"strict": True}, 0.25),  # only q0 states its answer after the template's trigger
        ("voting", {"k": 3}, 0.5),  # q0 (g0 and "g0.0" vote together), q2 (the only vote)
        ("pass@k", {"k": 1, "num_samples": 3}, (2 / 3 + 1 / 3 + 1 / 3 + 0) / 4),
        ("pass@k", {"k": 2, "num_samples": 3}, (1 + 2 / 3 + 2 / 3 + 0) / 4),  # 1 - C(n - c, 2) / C(3, 2)
        ("rerank", {"k": 3, "verifier": prefer_last}, 0.75),  # q0: "g0.0", q1: g1, q2: the one answer, q3: none
    ],
)
def test_each_mode_on_scripted_samples(tokenizer, svamp, scripted, tmp_path, mode, kwargs, accuracy):
    summary = run(scripted(), tokenizer, svamp, mode=mode, output_dir=str(tmp_path), **kwargs)
    assert summary["accuracy"] == pytest.approx(accuracy)
    records = read_predictions(summary["predictions"])
    assert summary["accuracy"] == pytest.approx(sum(record["score"] for record in records) / len(records))
    assert summary["upper_bound"] == (0.5 if mode == "greedy" and not kwargs else 0.25 if mode == "greedy" else 0.75)
    if mode == "voting":
        assert [record["chosen"] for record in records][2:] == [f"{float(svamp[2]['answer']):g}", None]
        assert summary["unextractable"] == pytest.approx(5 / 12)
    if mode == "rerank":
        assert [record["chosen_index"] for record in records] == [2, 2, 0, None]
        assert records[0]["verifier_scores"] == [0.0, 1.0, 2.0]


def test_an_interrupted_run_keeps_its_questions_and_resumes(tokenizer, svamp, scripted, tmp_path):
    scored = []

    def interrupted_after_two(prompt, completions):
        if len(scored) == 2:
            raise KeyboardInterrupt
        scored.append(prompt)
        return prefer_last(prompt, completions)

    with pytest.raises(KeyboardInterrupt):
        run(
            scripted(),
            tokenizer,
            svamp,
            mode="rerank",
            k=3,
            verifier=interrupted_after_two,
            output_dir=str(tmp_path),
            chunk_size=1,
        )
    predictions = tmp_path / "svamp-ncot-rerank@3.predictions.jsonl"
    assert [record["item_id"] for record in read_predictions(predictions)] == svamp["item_id"][:2]
    partial = json.loads((tmp_path / "svamp-ncot-rerank@3.summary.json").read_text())
    assert (partial["n"], partial["complete"]) == (2, False)

    with predictions.open("a") as file:  # a line cut short by the interruption is dropped on resume
        file.write('{"item_id": "svamp_')
    with pytest.warns(UserWarning, match=r"line 3 \(not JSON, cut short\?\)"):
        summary = run(
            scripted(),
            tokenizer,
            svamp,
            mode="rerank",
            k=3,
            verifier=prefer_last,
            output_dir=str(tmp_path),
            resume=True,
        )
    assert (summary["n"], summary["complete"], summary["resumed"]) == (4, True, 2)
    assert [record["item_id"] for record in read_predictions(predictions)] == svamp["item_id"]
    assert summary["accuracy"] == 0.75


def test_resuming_past_a_corrupt_middle_line_keeps_the_other_questions(tokenizer, svamp, scripted, tmp_path):
    """Resuming used to cut the file at its first bad line, and evaluate every question after it again."""
    run(scripted(), tokenizer, svamp, mode="greedy", output_dir=str(tmp_path))
    predictions = tmp_path / "svamp-ncot-greedy.predictions.jsonl"
    lines = predictions.read_bytes().split(b"\n")
    lines[1] = lines[1][:20]
    predictions.write_bytes(b"\n".join(lines))
    with pytest.warns(UserWarning, match=r"line 2 \(not JSON"):
        summary = run(scripted(), tokenizer, svamp, mode="greedy", output_dir=str(tmp_path), resume=True)
    assert (summary["n"], summary["complete"], summary["resumed"]) == (4, True, 3)
    with pytest.warns(UserWarning, match="line 2"):
        assert sorted(record["item_id"] for record in read_predictions(predictions)) == sorted(svamp["item_id"])
    assert summary["accuracy"] == 0.5


def test_resuming_with_another_number_of_samples_is_refused(tokenizer, svamp, scripted, tmp_path):
    run(scripted(), tokenizer, svamp, mode="pass@k", k=1, num_samples=3, output_dir=str(tmp_path))
    with pytest.raises(ValueError, match="same mode and k"):
        run(scripted(), tokenizer, svamp, mode="pass@k", k=1, num_samples=2, output_dir=str(tmp_path), resume=True)


def test_resuming_is_refused_when_a_question_is_now_asked_with_another_prompt(tokenizer, svamp, scripted, tmp_path):
    run(scripted(), tokenizer, svamp, mode="greedy", output_dir=str(tmp_path))
    summary = run(scripted(), tokenizer, svamp, mode="greedy", output_dir=str(tmp_path), resume=True)
    assert (summary["n"], summary["complete"], summary["resumed"]) == (4, True, 4)

    reworded = svamp.map(
        lambda row, index: {"prompt": row["prompt"] + ("Think.\n" if index >= 1 else "")}, with_indices=True
    )
    predictions = tmp_path / "svamp-ncot-greedy.predictions.jsonl"
    message = f"{predictions}: {svamp[1]['item_id']!r} was evaluated from another prompt"
    with pytest.raises(ValueError, match=re.escape(message) + ".*another output_dir or resume=False"):
        run(scripted(), tokenizer, reworded, mode="greedy", output_dir=str(tmp_path), resume=True)


def test_records_written_before_prompt_digests_resume_as_they_are(tokenizer, svamp, scripted, tmp_path):
    run(scripted(), tokenizer, svamp, mode="greedy", output_dir=str(tmp_path))
    predictions = tmp_path / "svamp-ncot-greedy.predictions.jsonl"
    records = [json.loads(line) for line in predictions.read_text().splitlines()]
    for record in records:
        del record["prompt_sha256"]
    predictions.write_text("".join(json.dumps(record) + "\n" for record in records))

    reworded = svamp.map(lambda row: {"prompt": row["prompt"] + "Think.\n"})
    summary = run(scripted(), tokenizer, reworded, mode="greedy", output_dir=str(tmp_path), resume=True)
    assert (summary["n"], summary["complete"], summary["resumed"]) == (4, True, 4)
    assert summary["accuracy"] == 0.5


def test_chat_template_kwargs_shape_the_prompts_generated_and_their_digests(tokenizer, tmp_path):
    templated = with_system_prompt_template(tokenizer)
    dataset = load_task("svamp", cot="ncot", split="test", limit=2, template="chat")
    brief = {"system_prompt": "Be brief."}
    golds = [float(answer) for answer in dataset["answer"]]
    script = [(dataset[0]["prompt"], [answer_line(f"{golds[0]:g}")]), (dataset[1]["prompt"], ["I cannot tell."])]
    summary = run(
        ScriptedModel(templated, script, **brief), templated, dataset, output_dir=str(tmp_path),
        chat_template_kwargs=brief,
    )  # fmt: skip
    assert summary["accuracy"] == 0.5
    records = read_predictions(summary["predictions"])
    assert [record["prompt_sha256"] for record in records] == [
        prompt_digest(templated, prompt, **brief) for prompt in dataset["prompt"]
    ]
    assert records[0]["prompt_sha256"] != prompt_digest(templated, dataset[0]["prompt"])
    with pytest.raises(ValueError, match="was evaluated from another prompt"):
        run(ScriptedModel(templated, script), templated, dataset, output_dir=str(tmp_path), resume=True)


def test_program_of_thought_runs_the_prompts_opening_plus_the_body(tokenizer):
    dataset = load_task("svamp", cot="pcot", split="test", limit=2, program_prefix_in_prompt=True)
    golds = [float(answer) for answer in dataset["answer"]]
    script = {
        dataset[0]["prompt"]: [f"    result = {golds[0]:g}\n    return result"],
        dataset[1]["prompt"]: [f"    return {golds[1]:g} + 1"],
    }
    summary = evaluate(
        ScriptedModel(tokenizer, script), tokenizer, dataset, "svamp", "pcot", show_progress=False, print_summary=False
    )
    assert summary["accuracy"] == 0.5
    assert summary["unextractable"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "beam"}, "Unknown mode"),
        ({"mode": "greedy", "k": 4}, "one completion"),
        ({"mode": "pass@k", "k": 4, "num_samples": 2}, "k <= num_samples"),
        ({"mode": "rerank", "k": 2}, "needs a verifier"),
        ({"hf_decoding": "paged"}, "valid: dynamic, static, compiled"),
    ],
)
def test_bad_settings_are_refused_before_generating(tokenizer, svamp, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(object(), tokenizer, svamp, **kwargs)
