"""`benchmarks/bench_gpu_ppo.py` on a CPU: the tiny shape runs both modes end to end (one worker subprocess each), and
the 7B shape is refused there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.utils import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gpu_ppo.py"
SMOKE = ["--shape", "tiny", "--device", "cpu", "--rollouts", "2", "--batch", "2"]
SMOKE += ["--max_completion_length", "8", "--prompt_len", "8"]
POSITIVE = (
    "generate_s",
    "rollout_forward_s",
    "update_s",
    "generated_tokens",
    "generation_tokens_per_s",
    "scoring_tokens_per_s",
    "update_tokens_per_s",
    "peak_gib",
)


@pytest.fixture(scope="module")
def bench():
    return load_script(SCRIPT)


def test_7b_shape_is_refused_on_cpu(bench, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(["--shape", "codellama-7b", "--device", "cpu"])
    assert "Use --shape tiny" in capsys.readouterr().err


def test_vowel_share_and_counts(bench):
    assert bench.vowel_share(["ab", "", "xyz"]) == [0.5, 0.0, 0.0]
    assert [bench.count(n) for n in (34881, 6_738_415_616, 40_000_000, 12)] == ["34.9k", "6.74B", "40M", "12"]


def test_tiny_run_on_cpu_measures_both_modes(bench, tmp_path, tokenizer_path, capsys):
    status = bench.main([*SMOKE, "--tokenizer", tokenizer_path, "--output_dir", str(tmp_path)])
    report = json.loads((tmp_path / bench.RESULT_FILE).read_text())
    assert status == 0, {mode: result.get("error") for mode, result in report["results"].items()}
    assert report["machine"]["bf16_matmul_flop_per_s"] > 0
    for mode in ("lora", "full"):
        result, summary = report["results"][mode], report["summaries"][mode]
        assert len(result["rollouts"]) == 2
        for kind in ("warmup", "steady"):
            for key in POSITIVE:
                assert summary[kind][key] > 0, (mode, kind, key)
            # min_new_tokens: every completion runs to the full length, so the token counts are exact
            assert summary[kind]["generated_tokens"] == 2 * 8
            assert summary[kind]["update_tokens"] == 2 * (8 + 8) * 2
    lora, full = report["results"]["lora"], report["results"]["full"]
    value_head = bench.SHAPES["tiny"]["hidden_size"] + 1
    assert full["trainable_parameters"] == full["parameters"] + value_head
    assert value_head < lora["trainable_parameters"] < full["trainable_parameters"]
    assert (lora["reference"], full["reference"]) == ("base model, adapter off", "frozen copy")
    assert "lora  steady" in capsys.readouterr().out
