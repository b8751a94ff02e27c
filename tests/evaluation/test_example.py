"""`examples/evaluate.py`: its arguments, its parser, and a smoke run on a tiny model saved to disk."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reft_trl.precision import generation_dtype
from reft_trl.scripts.evaluate import EvalArguments
from tests.utils import docstring_mismatches, tiny_llama

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "evaluate.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("evaluate_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the string annotations through the module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_arguments_are_documented_with_their_defaults(example):
    assert docstring_mismatches(EvalArguments) == []


def test_parser_reads_the_command_line(example):
    (args,) = example.make_parser().parse_args_and_config(
        ["--task", "svamp", "--cot", "pcot", "--mode", "pass@k", "--k", "4", "--num_samples", "16", "--strict"]
    )
    assert (args.task, args.cot, args.mode, args.k, args.num_samples, args.strict) == (
        "svamp",
        "pcot",
        "pass@k",
        4,
        16,
        True,
    )
    assert (args.split, args.temperature, args.output_dir, args.program_prefix) == ("test", 1.0, "eval", True)
    with pytest.raises(SystemExit):
        example.make_parser().parse_args_and_config(["--mode", "beam"])


def test_rerank_without_a_verifier_is_refused(example):
    with pytest.raises(ValueError, match="verifier_path"):
        example.main(EvalArguments(model_name_or_path="unused", mode="rerank"))


def test_example_script_runs_on_a_tiny_model(tmp_path, tokenizer):
    model_dir = tmp_path / "tiny"
    tiny_llama(len(tokenizer)).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    output_dir = tmp_path / "eval"
    command = [
        sys.executable,
        str(EXAMPLE),
        "--model_name_or_path", str(model_dir),
        "--task", "svamp",
        "--limit", "4",
        "--max_new_tokens", "8",
        "--backend", "hf",
        "--output_dir", str(output_dir),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    summary = json.loads((output_dir / "svamp-ncot-greedy.summary.json").read_text())
    assert (summary["n"], summary["mode"], summary["model"], summary["limit"]) == (4, "greedy", str(model_dir), 4)
    assert summary["dtype"] == generation_dtype(None, use_cpu=True)  # the device's choice, recorded
    lines = (output_dir / "svamp-ncot-greedy.predictions.jsonl").read_text().splitlines()
    assert len(lines) == 4
    assert "accuracy" in result.stdout and f"{100 * summary['accuracy']:.2f}%" in result.stdout
