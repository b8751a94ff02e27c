"""`benchmarks/bench_ppo_step.py`: `--precision` reaches every worker, and saved results keep printing (no workers run,
no torch imported)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.utils import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_ppo_step.py"
OLD_RESULTS = SCRIPT.parent / "results" / "ppo_step" / "rollout_forward" / "ppo_step_new-001911.json"


@pytest.fixture(scope="module")
def bench():
    return load_script(SCRIPT)


@pytest.mark.parametrize(("argv", "bf16", "accelerate"), [([], False, "no"), (["--precision", "bf16"], True, "bf16")])
def test_precision_is_explicit_in_every_worker(bench, monkeypatch, argv, bf16, accelerate):
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")  # a stray setting of the caller's shell is overridden
    args = bench.parse_args(argv)
    assert args.precision == ("bf16" if bf16 else "fp32")
    for trainer in bench.TRAINERS:
        assert bench.worker_config(args, {}, trainer)["bf16"] is bf16
    env = bench.worker_env(args.precision)
    assert env["ACCELERATE_MIXED_PRECISION"] == accelerate
    assert env["PATH"] == os.environ["PATH"]


def test_reft_variants_reach_the_worker_config(bench):
    args = bench.parse_args(["--trainers", "reft_shrinking", "reft_fused_rollouts", "reft_fused"])
    decoding = {trainer: bench.worker_config(args, {}, trainer)["rollout_decoding"] for trainer in args.trainers}
    assert decoding == {"reft_shrinking": "shrinking", "reft_fused_rollouts": "fused", "reft_fused": "dynamic"}
    assert bench.worker_config(args, {}, "reft_fused")["lm_head_scoring"] == "fused"
    assert bench.worker_config(args, {}, "reft_fused_rollouts")["lm_head_scoring"] == "auto"
    assert all(bench.worker_command(args, trainer, Path("r"), Path("c"))[2] == "reft" for trainer in args.trainers)


def test_native_bf16_from_cpu_flags(bench):
    assert bench.cpu_has_native_bf16({"flags": "fpu avx2 avx512f avx512_bf16"})
    assert bench.cpu_has_native_bf16({"flags": "avx512f amx_tile amx_bf16"})
    assert bench.cpu_has_native_bf16({"Features": "fp asimd bf16"})  # Arm
    assert not bench.cpu_has_native_bf16({"flags": "fpu avx2 avx512f avx512_vnni"})
    assert not bench.cpu_has_native_bf16({})


def test_bf16_without_native_bf16_warns_and_runs(bench, monkeypatch, capsys, tmp_path):
    class Started(Exception):
        pass

    def first_worker(command, log_path, env=None):
        raise Started

    monkeypatch.setattr(bench, "cpu_has_native_bf16", lambda cpuinfo=None: False)
    monkeypatch.setattr(bench, "machine_lines", lambda: [])
    monkeypatch.setattr(bench, "package_versions", lambda python: "-")
    monkeypatch.setattr(bench, "run_worker", first_worker)
    monkeypatch.setattr(bench.tempfile, "mkdtemp", lambda prefix: str(tmp_path))
    with pytest.raises(Started):
        bench.main(["--precision", "bf16", "--trainers", "reft"])
    assert "warning: --precision bf16 on a CPU without native bf16" in capsys.readouterr().out


def test_results_without_precision_print_as_fp32(bench, tmp_path, capsys):
    saved = json.loads(OLD_RESULTS.read_text())
    assert "precision" not in saved and "precision" not in saved["args"]
    bench.main(["--from-json", str(OLD_RESULTS)])
    assert "seconds per rollout, fp32 (steady" in capsys.readouterr().out

    saved["precision"] = "bf16"
    (tmp_path / "bf16.json").write_text(json.dumps(saved))
    bench.main(["--from-json", str(tmp_path / "bf16.json")])
    assert "seconds per rollout, bf16 (steady" in capsys.readouterr().out
