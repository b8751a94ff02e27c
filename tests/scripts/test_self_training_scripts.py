"""`reft-trl offline-st` / `online-st` (and their examples) end to end on tiny models saved to disk."""

from __future__ import annotations

import json

import pytest

from reft_trl.cli import main as cli_main
from reft_trl.scripts.offline_st import OfflineSelfTrainingArguments
from tests.utils import docstring_mismatches, tiny_llama

COMMON = ["--use_cpu", "true", "--bf16", "false", "--report_to", "none", "--save_strategy", "no", "--seed", "0"]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, tokenizer):
    path = tmp_path_factory.mktemp("tiny")
    tiny_llama(len(tokenizer)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_offline_arguments_are_documented():
    assert docstring_mismatches(OfflineSelfTrainingArguments) == []


def test_offline_self_training_samples_then_trains_the_base_model(tiny_model_dir, tmp_path, capsys):
    output_dir = tmp_path / "offline"
    argv = [
        "offline-st", "--model_name_or_path", tiny_model_dir, "--warmup_model", tiny_model_dir,
        "--task", "svamp", "--cot", "pcot", "--train_limit", "3", "--num_samples", "2",
        "--sampling_max_new_tokens", "4", "--sampling_backend", "hf", "--per_device_train_batch_size", "2",
        "--max_steps", "1", "--max_length", "256", "--output_dir", str(output_dir), *COMMON,
    ]  # fmt: skip
    assert cli_main(argv) == 0
    data_path = output_dir / "offline_self_training_data.jsonl"
    rows = [json.loads(line) for line in data_path.read_text().splitlines()]
    gold = [row for row in rows if row["source"] == "gold"]
    assert len(gold) == 2 * 3  # every question keeps its gold program, twice as the authors' set
    assert all(row["completion"].startswith("def solution():") for row in rows)
    assert (output_dir / "model.safetensors").is_file()
    assert "written to" in capsys.readouterr().out

    # A rerun reuses the sampled set instead of sampling again (no warm-up model needed)
    rerun = argv[:3] + argv[5:]  # drop --warmup_model and its value
    assert "--warmup_model" not in rerun
    assert cli_main(rerun) == 0
    assert f"reusing {len(rows)} training rows" in capsys.readouterr().out


def test_offline_self_training_without_data_or_warmup_model_says_so(tiny_model_dir, tmp_path):
    argv = ["offline-st", "--model_name_or_path", tiny_model_dir, "--task", "svamp", "--output_dir", str(tmp_path)]
    with pytest.raises(ValueError, match="--warmup_model"):
        cli_main([*argv, *COMMON])


def test_online_self_training_runs_and_saves_with_one_line_per_logging_step(tiny_model_dir, tmp_path, capsys):
    output_dir = tmp_path / "online"
    argv = [
        "online-st", "--model_name_or_path", tiny_model_dir, "--task", "svamp", "--cot", "ncot",
        "--train_limit", "4", "--per_device_train_batch_size", "2", "--max_completion_length", "4",
        "--max_steps", "2", "--logging_steps", "1", "--output_dir", str(output_dir), *COMMON,
    ]  # fmt: skip
    assert cli_main(argv) == 0
    assert (output_dir / "model.safetensors").is_file()
    out = capsys.readouterr().out
    assert [line.split("  ")[0] for line in out.splitlines() if line.startswith("step ")] == ["step 1/2", "step 2/2"]
    assert "'learning_rate'" not in out  # no metrics dict
