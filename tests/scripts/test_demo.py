"""The main job end to end on a tiny random model: SFT, PPO, evaluation, results and plot; what it prints."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from reft_trl.evaluation.paired import paired_comparison
from reft_trl.scripts.console import PPO_COLUMNS, SFT_COLUMNS, CompactLog, compact_line, human_size, use_compact_log
from reft_trl.scripts.demo import (
    CURVES,
    KL_NOTE,
    SFT_CURVES,
    DemoArguments,
    main,
    plot_training_curves,
    results_table,
)
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
    paired = saved["paired"]  # the same 4 questions, question by question
    assert paired["n"] == 4
    assert paired["accuracy_a"] == results["greedy_accuracy"]["warm-up (SFT)"]
    assert paired["accuracy_b"] == results["greedy_accuracy"]["ReFT"]
    assert any("losses/value_loss" in entry for entry in saved["ppo_log_history"])
    assert (tmp_path / "demo" / "training_curves.png").stat().st_size > 10_000
    assert (tmp_path / "demo" / "ppo" / "value_head.safetensors").is_file()

    # Only the final models are kept, and their sizes are reported
    assert not list((tmp_path / "demo").glob("*/checkpoint-*"))
    weights = (model_dir / "model.safetensors").stat().st_size
    assert set(saved["disk_bytes"]) == {"sft", "ppo", "eval"}
    assert saved["disk_bytes"]["sft"] > weights and saved["disk_bytes"]["ppo"] > weights

    out = capsys.readouterr().out
    assert "warm-up (SFT)" in out and "ReFT" in out and "on 4 held-out test questions" in out
    assert "ReFT - warm-up: " in out and "% CI " in out and "McNemar p" in out
    headers = re.findall(r"^\[(\d)/4\] (.*)$", out, re.MULTILINE)
    assert [number for number, _ in headers] == ["1", "2", "3", "4"]
    assert headers[0][1].startswith("Warm-up (SFT) on 16 questions")
    assert (
        headers[1][1].startswith("ReFT PPO") and headers[2][1].startswith("Evaluation") and headers[3][1] == "Results"
    )
    assert f"[demo] outputs go to {args.output_dir}: about {human_size(2 * weights)}" in out
    # One compact line per logging step instead of transformers' metrics dict
    assert "{'loss'" not in out and "'completions/mean_length'" not in out
    (ppo_line,) = [line for line in out.splitlines() if line.startswith("step 2/2")]
    for label in ("reward", "accuracy", "KL/seq", "value loss", "truncated", "s/step"):
        assert label in ppo_line
    assert out.count("done: ") == 2
    assert " ".join(KL_NOTE.split()) in " ".join(out.split())
    assert f"on disk in {args.output_dir}: " in out and "  sft/ " in out and "  ppo/ " in out


def test_demo_arguments_are_documented():
    assert docstring_mismatches(DemoArguments) == []


def test_compact_line_shows_the_chosen_metrics_only():
    logs = {"reward": 0.2134, "answer_match/accuracy": 0.1875, "objective/kl": -0.0123, "losses/value_loss": 0.04123}
    logs |= {"completions/clipped_ratio": 0.25, "losses/clipfrac": 0.1, "entropy": 1.2}
    line = compact_line(logs, 4, 12, PPO_COLUMNS, 31.24)
    assert line == (
        "step  4/12  reward +0.213  accuracy 18.8%  KL/seq -0.0123  value loss 0.0412  truncated 25%  31.2 s/step"
    )
    assert compact_line({"loss": 2.0}, 5, 24, SFT_COLUMNS, None) == "step  5/24  loss 2.000"


def test_compact_log_prints_lines_and_leaves_the_history_whole(capsys):
    callback = CompactLog(PPO_COLUMNS)
    args = SimpleNamespace(disable_tqdm=True)
    state = SimpleNamespace(is_world_process_zero=True, global_step=0, max_steps=4)
    callback.on_train_begin(args, state, None)
    state.global_step = 2
    logs = {"reward": 0.5, "objective/kl": 0.01, "losses/policy_loss": 0.3}
    callback.on_log(args, state, None, logs=logs)
    callback.on_log(args, state, None, logs={"train_runtime": 12.4, "train_loss": 0.1})
    assert logs == {"reward": 0.5, "objective/kl": 0.01, "losses/policy_loss": 0.3}
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("step 2/4  reward +0.500  KL/seq +0.0100  ") and lines[0].endswith(" s/step")
    assert lines[1] == "done: 2 steps in 12 s"


def test_compact_log_prints_an_evaluation_as_an_eval_line_and_no_bar_without_tqdm(capsys):
    callback = CompactLog(PPO_COLUMNS)
    args = SimpleNamespace(disable_tqdm=True)
    state = SimpleNamespace(is_world_process_zero=True, global_step=3, max_steps=4)
    callback.on_train_begin(args, state, None)
    callback.on_prediction_step(args, state, None, eval_dataloader=[1, 2])
    assert callback.prediction_bar is None
    logs = {"eval_loss": 0.25, "eval_reward": 0.5, "eval_objective/kl": 0.01, "eval_runtime": 3.0, "epoch": 1.0}
    callback.on_log(args, state, None, logs=logs)
    assert capsys.readouterr().out.splitlines() == ["eval step 3/4  loss 0.250  reward +0.500  KL/seq +0.0100"]


def test_each_trainer_gets_its_own_columns():
    from trl import GRPOTrainer

    from reft_trl.scripts.console import GRPO_COLUMNS, SELF_TRAINING_COLUMNS, columns_for
    from reft_trl.trainers.online_self_training_trainer import OnlineSelfTrainingTrainer
    from reft_trl.trainers.ppo_trainer import ReFTPPOTrainer
    from reft_trl.trainers.sft_trainer import ReFTSFTTrainer

    def bare(cls):
        return cls.__new__(cls)  # isinstance is all that is asked

    assert columns_for(bare(ReFTSFTTrainer)) is SFT_COLUMNS
    assert columns_for(bare(ReFTPPOTrainer)) is PPO_COLUMNS
    assert columns_for(bare(OnlineSelfTrainingTrainer)) is SELF_TRAINING_COLUMNS
    assert columns_for(bare(GRPOTrainer)) is GRPO_COLUMNS


def test_compact_log_replaces_the_dict_printing_callbacks():
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback

    class Other(TrainerCallback):
        pass

    removed, added = [], []
    handler = SimpleNamespace(callbacks=[ProgressCallback(), PrinterCallback(), Other()])
    trainer = SimpleNamespace(callback_handler=handler, remove_callback=removed.append, add_callback=added.append)
    use_compact_log(trainer, SFT_COLUMNS)
    assert [type(callback) for callback in removed] == [ProgressCallback, PrinterCallback]
    assert len(added) == 1 and isinstance(added[0], CompactLog)


def test_results_table_says_what_is_on_disk_and_why_kl_can_be_negative():
    results = {
        "settings": {"task": "svamp", "cot": "ncot", "model_name_or_path": "/m/smollm2", "device": "cpu",
                     "output_dir": "outputs/demo"},
        "greedy_accuracy": {"warm-up (SFT)": 0.1, "ReFT": 0.0833},
        "n_test": 60,
        "paired": paired_comparison([1] * 6 + [0] * 54, [1] * 5 + [0] * 55),
        "timings": {"sft_s": 477, "ppo_s": 336, "eval_s": 140, "total_s": 980},
        "disk_bytes": {"sft": 541_600_000, "ppo": 541_700_000, "eval": 90_000},
    }  # fmt: skip
    table = results_table(results, "outputs/demo/training_curves.png")
    assert "on disk in outputs/demo: 1.1 GB" in table
    assert "  sft/    542 MB  the warm-up model" in table
    assert "  ppo/    542 MB  the ReFT policy; its critic in value_head.safetensors" in table
    assert "  eval/    90 kB" in table
    assert "can dip below 0" in table and "k1" in table
    assert "ReFT - warm-up: -1.7 points (95 % CI " in table and "0 questions only ReFT solves, 1 only warm-up" in table


def test_training_curves_carry_the_title_and_one_panel_per_curve(tmp_path, monkeypatch):
    """The figure's title is the one passed in (a panel's title once replaced it), each panel titled from `CURVES`."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, path, **kwargs: saved.append(figure))
    history = [{"step": step, "reward": 0.1 * step, "losses/value_loss": 1.0 / step} for step in (1, 2, 3)]
    path = str(tmp_path / "curves.png")
    assert plot_training_curves(history, path, title="GRPO from the warm-up model") == path
    (figure,) = saved
    assert figure.get_suptitle() == "GRPO from the warm-up model"
    shown = [axis.get_title() for axis in figure.axes if axis.get_visible()]
    assert shown == [title for _, title, _ in CURVES]


def test_a_supervised_runs_curves_plot_what_sft_logs(tmp_path, monkeypatch):
    """The continued-SFT control's figure has the `SFT_CURVES` panels, each with the logged points, none empty."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, path, **kwargs: saved.append(figure))
    history = [
        {"step": step, "loss": 1.0 / step, "mean_token_accuracy": 0.9, "entropy": 0.1, "grad_norm": 0.5}
        for step in (4, 8, 12)
    ]
    assert plot_training_curves(history, str(tmp_path / "sft.png"), title="SFT", curves=SFT_CURVES) is not None
    (figure,) = saved
    panels = [axis for axis in figure.axes if axis.get_visible()]
    assert [axis.get_title() for axis in panels] == [title for _, title, _ in SFT_CURVES]
    assert all(len(axis.get_lines()) == 1 and not axis.texts for axis in panels)
    assert list(panels[0].get_lines()[0].get_ydata()) == [0.25, 0.125, 1.0 / 12]


@pytest.mark.parametrize("native", [True, False])
def test_the_demo_says_which_precision_it_computes_in(native):
    """Without native bf16 the demo runs in float32 and says it takes about twice the README's time."""
    from reft_trl.scripts.demo import _precision_line

    line = _precision_line(on_gpu=False, bf16=native)
    assert line.startswith("precision: bf16" if native else "precision: float32 (this CPU has no native bf16")
    assert ("twice" in line) is not native
