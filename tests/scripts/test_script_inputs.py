"""The commands refuse bad inputs up front and resume as told: a model path that does not exist is named, an empty
training set is refused, `--resume_from_checkpoint true / false` work and skip a checkpoint cut short by a kill."""

from __future__ import annotations

import doctest
import json
import re
import shutil

import pytest

from reft_trl import preflight
from reft_trl.cli import main as cli_main
from reft_trl.preflight import check_model_path
from reft_trl.scripts import ppo
from reft_trl.scripts.online_stage import train_from_warmup
from reft_trl.trainers.ppo_trainer import ReFTPPOTrainer
from tests.utils import tiny_llama

COMMON = ["--use_cpu", "true", "--bf16", "false", "--report_to", "none", "--seed", "0"]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, tokenizer):
    path = tmp_path_factory.mktemp("tiny")
    tiny_llama(len(tokenizer)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


# ---------------------------------------------------------------------------------------------------------------------
# Model paths


MISSING = "./no/such/checkpoint-2"


@pytest.mark.parametrize(
    "argv",
    [
        ["sft", "--model_name_or_path", MISSING, "--task", "svamp"],
        ["ppo", "--model_name_or_path", MISSING, "--task", "svamp"],
        ["online-st", "--model_name_or_path", MISSING, "--task", "svamp"],
        ["grpo", "--model_name_or_path", MISSING, "--task", "svamp"],
        ["offline-st", "--model_name_or_path", MISSING, "--task", "svamp"],
        ["eval", "--model_name_or_path", MISSING, "--task", "svamp"],
    ],
)
def test_a_model_path_that_does_not_exist_is_named(argv, tmp_path):
    options = ["--output_dir", str(tmp_path), *COMMON] if argv[0] != "eval" else []
    with pytest.raises(FileNotFoundError, match=re.escape(f"model path {MISSING!r} does not exist")):
        cli_main([*argv, *options])


def test_offline_self_training_checks_the_warmup_model_before_sampling(tiny_model_dir, tmp_path):
    argv = ["offline-st", "--model_name_or_path", tiny_model_dir, "--warmup_model", "~/no/such/sft", "--task", "svamp"]
    with pytest.raises(FileNotFoundError, match=re.escape("warm-up model path '~/no/such/sft' does not exist")):
        cli_main([*argv, "--output_dir", str(tmp_path), *COMMON])


@pytest.mark.parametrize("name", ["runs/sft", "./sft", "~/sft", "/models/sft"])
def test_path_like_names_are_paths_offline(name, monkeypatch):
    monkeypatch.setattr(preflight, "_hub_offline", lambda: True)
    with pytest.raises(FileNotFoundError, match=re.escape(f"model path {name!r} does not exist")):
        check_model_path(name)


def test_a_valid_hub_id_is_left_to_the_hub_when_online(monkeypatch):
    monkeypatch.setattr(preflight, "_hub_offline", lambda: False)
    check_model_path("org/model")  # may be a Hub repository: from_pretrained decides
    with pytest.raises(FileNotFoundError, match="model path 'runs/sft/checkpoint-2' does not exist"):
        check_model_path("runs/sft/checkpoint-2")  # two slashes: no Hub id


def test_an_existing_folder_passes(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight, "_hub_offline", lambda: True)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sft").mkdir()
    check_model_path("./sft")
    check_model_path(str(tmp_path / "sft"))
    check_model_path("gpt2")  # a bare name is a Hub id, never a path


# ---------------------------------------------------------------------------------------------------------------------
# Empty training sets


def test_an_sft_run_on_a_fully_skipped_file_is_refused(tiny_model_dir, tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps({"question": "", "answer_value": "1"}) + "\n")
    argv = [
        "sft", "--model_name_or_path", tiny_model_dir, "--task", "svamp", "--dataset_source", str(data),
        "--skip_bad_rows", "true", "--output_dir", str(tmp_path / "out"), *COMMON,
    ]  # fmt: skip
    refused = pytest.raises(ValueError, match="the SFT training set holds no rows: nothing to train on")
    with pytest.warns(UserWarning, match="skipped 1 bad row"), refused:
        cli_main(argv)


# ---------------------------------------------------------------------------------------------------------------------
# --resume_from_checkpoint


def test_resume_from_checkpoint_false_starts_afresh(tiny_model_dir, tmp_path):
    argv = [
        "sft", "--model_name_or_path", tiny_model_dir, "--task", "svamp", "--train_limit", "2", "--max_steps", "1",
        "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1", "--max_length", "128",
        "--save_strategy", "no", "--output_dir", str(tmp_path), *COMMON,
        "--resume_from_checkpoint", "false",
    ]  # fmt: skip
    assert cli_main(argv) == 0
    assert (tmp_path / "model.safetensors").is_file()


def test_ppo_resume_true_skips_a_checkpoint_cut_short(tiny_model_dir, tmp_path, monkeypatch):
    output_dir = tmp_path / "ppo"
    argv = [
        "--model_name_or_path", tiny_model_dir, "--task", "svamp", "--train_limit", "4",
        "--per_device_train_batch_size", "2", "--max_completion_length", "4", "--save_strategy", "steps",
        "--save_steps", "2", "--output_dir", str(output_dir), *COMMON,
    ]  # fmt: skip
    assert cli_main(["ppo", *argv, "--max_steps", "2"]) == 0
    # A kill while writing checkpoint-3 leaves its config and part of its weights
    partial = output_dir / "checkpoint-3"
    partial.mkdir()
    shutil.copy(output_dir / "checkpoint-2" / "config.json", partial)
    (partial / "model.safetensors").write_bytes((output_dir / "checkpoint-2" / "model.safetensors").read_bytes()[:99])

    loaded = []
    load = ReFTPPOTrainer._load_from_checkpoint
    monkeypatch.setattr(
        ReFTPPOTrainer,
        "_load_from_checkpoint",
        lambda self, path, model=None: loaded.append(path) or load(self, path, model),
    )
    parsed = ppo.make_parser().parse_args_and_config(
        args=[*argv, "--max_steps", "3", "--resume_from_checkpoint", "true"]
    )
    with pytest.warns(
        UserWarning, match=r"skipping the incomplete checkpoint .*checkpoint-3 \(missing .*trainer_state"
    ):
        trainer = train_from_warmup(ReFTPPOTrainer, "ReFT PPO", *parsed)
    assert loaded == [str(output_dir / "checkpoint-2")]
    assert trainer.state.global_step == 3


def test_doctests_pass():
    results = doctest.testmod(preflight)
    assert results.attempted > 0 and results.failed == 0
