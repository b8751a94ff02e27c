"""The main job end to end on a tiny random model: SFT, PPO, evaluation, results and plot."""

from __future__ import annotations

import json

from reft_trl.scripts.demo import DemoArguments, main
from tests.utils import docstring_mismatches, tiny_llama


def test_demo_runs_both_stages_and_reports(tokenizer, tmp_path, capsys):
    model_dir = tmp_path / "tiny"
    tiny_llama(len(tokenizer)).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    args = DemoArguments(
        output_dir=str(tmp_path / "demo"), model_name_or_path=str(model_dir), train_limit=16, eval_limit=4,
        sft_epochs=1, ppo_steps=2, batch_size=4, max_completion_length=8,
    )  # fmt: skip
    results = main(args)

    assert set(results["greedy_accuracy"]) == {"warm-up (SFT)", "ReFT"}
    assert results["n_test"] == 4
    saved = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert saved["greedy_accuracy"] == results["greedy_accuracy"]
    assert any("losses/value_loss" in entry for entry in saved["ppo_log_history"])
    assert (tmp_path / "demo" / "training_curves.png").stat().st_size > 10_000
    assert (tmp_path / "demo" / "ppo" / "value_head.safetensors").is_file()
    table = capsys.readouterr().out
    assert "warm-up (SFT)" in table and "ReFT" in table and "on 4 held-out test questions" in table


def test_demo_arguments_are_documented():
    assert docstring_mismatches(DemoArguments) == []
