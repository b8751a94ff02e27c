"""`benchmarks/bench_learning_svamp.py`: the online self-training control, on a tiny random Llama warm-up with the real
SmolLM2 tokenizer."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.utils import load_script, tiny_llama

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_learning_svamp.py"


@pytest.fixture(scope="module")
def bench():
    return load_script(BENCHMARK)


@pytest.fixture
def warm_up(tokenizer, tmp_path) -> str:
    """A stand-in for the warm-up folder: a tiny random Llama with the SmolLM2 tokenizer's vocabulary."""
    folder = tmp_path / "sft"
    tiny_llama(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_every_method_is_described_in_the_docstring(bench):
    for method in bench.METHODS:
        assert f"`{method}`" in bench.__doc__, method
        assert bench.parse_args(["--method", method]).method == method


def test_the_sft_control_never_saves_into_the_warm_up_it_starts_from(bench, tmp_path):
    """Trained without --sft_dir, the warm-up lives in sft/: the continued-SFT control saves beside it, not over it
    (it would find the warm-up's config.json there, skip training and report the warm-up as the control)."""
    out = str(tmp_path / "run")
    for method in bench.METHODS:
        sft_dir, rl_dir = bench.stage_dirs(bench.parse_args(["--method", method, "--output_dir", out]))
        assert sft_dir == os.path.join(out, "sft")
        assert rl_dir == os.path.join(out, "continued-sft" if method == "sft" else method)
    args = bench.parse_args(["--method", "ppo", "--output_dir", out, "--sft_dir", os.path.join(out, "ppo")])
    with pytest.raises(ValueError, match="--sft_dir .*ppo stage saves"):
        bench.stage_dirs(args)


def test_online_st_samples_the_ppo_budget_and_trains(bench, warm_up, tmp_path, monkeypatch):
    """1 rollout of batch_size x num_mini_batches completions, one sample per question, as PPO samples; logged with
    the reward and the training accuracy the curves plot; saved as a causal LM; a rerun resumes from the checkpoint."""
    from transformers import AutoModelForCausalLM

    from reft_trl.data import load_task
    from reft_trl.precision import cpu_supports_bf16
    from reft_trl.scripts.demo import plot_training_curves
    from reft_trl.trainers.mixed_precision_generation import MixedPrecisionGenerationMixin
    from reft_trl.trainers.online_self_training_trainer import OnlineSelfTrainingTrainer

    rollouts, batch_size, num_mini_batches = 1, 2, 2
    args = bench.parse_args(
        [
            "--method", "online_st", "--cot", "pcot", "--output_dir", str(tmp_path / "bench"),
            "--rollouts", str(rollouts), "--batch_size", str(batch_size), "--num_mini_batches", str(num_mini_batches),
            "--max_completion_length", "8", "--save_every", "1", "--learning_rate", "1e-3",
        ]
    )  # fmt: skip
    rows = load_task("svamp", cot="pcot", split="train", program_prefix_in_prompt=True).select(range(4))
    sampled, built = [], []
    generate_and_score = OnlineSelfTrainingTrainer._generate_and_score_completions
    build_trainer = bench._build_trainer

    def counting(self, inputs):
        sampled.extend(row["item_id"] for row in inputs)
        return generate_and_score(self, inputs)

    monkeypatch.setattr(OnlineSelfTrainingTrainer, "_generate_and_score_completions", counting)
    monkeypatch.setattr(bench, "_build_trainer", lambda *a: built.append(build_trainer(*a)) or built[-1])
    output_dir = str(tmp_path / "bench" / "online_st")
    history = bench._train(args, warm_up, output_dir, rows)

    config = built[0][0].args
    budget = rollouts * batch_size * num_mini_batches
    assert (config.num_generations, config.num_iterations) == (1, 2)
    assert config.generation_batch_size == batch_size * num_mini_batches
    assert config.max_steps == rollouts * config.steps_per_generation * config.num_iterations
    assert (config.learning_rate, config.max_completion_length, config.seed) == (1e-3, 8, args.seed)
    assert (config.task, config.cot, config.lr_scheduler_type) == ("svamp", "pcot", "constant")
    assert len(sampled) == budget and sorted(sampled) == sorted(rows["item_id"])  # each question once

    logged = [entry for entry in history if "reward" in entry]
    assert logged and logged[-1]["step"] == config.max_steps
    assert "answer_match/accuracy" in logged[-1] and "losses/gold_ce" in logged[-1]
    plot = str(tmp_path / "training_curves.png")
    assert plot_training_curves(history, plot) in (plot, None)  # None: no matplotlib; panels without keys are empty
    assert os.path.isdir(os.path.join(output_dir, f"checkpoint-{config.max_steps}"))
    assert AutoModelForCausalLM.from_pretrained(output_dir).config.num_hidden_layers == 2

    # PPO's precision, and its rollouts under the trainer's autocast
    assert config.bf16 == cpu_supports_bf16()
    assert isinstance(built[0][0], MixedPrecisionGenerationMixin)

    # A rerun resumes from the last checkpoint: the budget is spent, nothing more is sampled
    bench._train(args, warm_up, output_dir, rows)
    assert len(sampled) == budget


@pytest.mark.parametrize("method", ["ppo", "grpo", "sft"])
def test_every_method_builds_its_trainer_with_the_shared_budget(bench, warm_up, tmp_path, method):
    """Each control is built from the same warm-up with the same learning rate, seed and rollout-sized steps."""
    from reft_trl.data import load_task

    args = bench.parse_args(
        ["--method", method, "--cot", "pcot", "--rollouts", "3", "--batch_size", "2", "--num_mini_batches", "2",
         "--learning_rate", "1e-4", "--rl_minutes", "5"]
    )  # fmt: skip
    prompts = method != "sft"
    rows = load_task("svamp", cot="pcot", split="train", program_prefix_in_prompt=prompts).select(range(4))
    trainer, _ = bench._build_trainer(args, warm_up, str(tmp_path / method), rows)
    passes = bench.ROLLOUT_PASSES if method != "sft" else 1
    assert trainer.args.max_steps == 3 * 2 * passes
    assert trainer.args.gradient_accumulation_steps == 1  # one optimizer step per --batch_size samples, as documented
    assert (trainer.args.learning_rate, trainer.args.seed, trainer.args.lr_scheduler_type) == (1e-4, 42, "constant")
    assert any(type(callback).__name__ == "WallClockLimit" for callback in trainer.callback_handler.callbacks)


@pytest.mark.parametrize("method", ["ppo", "grpo", "online_st", "sft"])
def test_precision_fp32_turns_bf16_off_for_every_method_and_auto_follows_the_cpu(bench, warm_up, tmp_path, method):
    from reft_trl.data import load_task
    from reft_trl.precision import cpu_supports_bf16

    rows = load_task("svamp", cot="pcot", split="train", program_prefix_in_prompt=method != "sft").select(range(4))
    for precision, expected in (("fp32", False), ("auto", cpu_supports_bf16())):
        args = bench.parse_args(["--method", method, "--precision", precision, "--batch_size", "2"])
        trainer, _ = bench._build_trainer(args, warm_up, str(tmp_path / method / precision), rows)
        assert trainer.args.bf16 is expected, precision
        assert bench.use_bf16(args) is expected


@pytest.mark.parametrize("method", ["ppo", "sft"])
def test_rl_precision_sets_the_rl_stage_alone(bench, warm_up, tmp_path, method):
    from reft_trl.data import load_task
    from reft_trl.precision import cpu_supports_bf16

    rows = load_task("svamp", cot="pcot", split="train", program_prefix_in_prompt=method != "sft").select(range(4))
    for precision, rl_precision, expected in (("fp32", "auto", cpu_supports_bf16()), ("auto", "fp32", False)):
        args = bench.parse_args(
            ["--method", method, "--precision", precision, "--rl_precision", rl_precision, "--batch_size", "2"]
        )
        trainer, _ = bench._build_trainer(args, warm_up, str(tmp_path / method / rl_precision), rows)
        assert trainer.args.bf16 is expected, (precision, rl_precision)
        assert bench.use_bf16(args) is (precision == "auto" and cpu_supports_bf16())  # warm-up and evaluations


def test_the_warm_up_takes_its_own_seed_and_precision_when_given(bench, tmp_path, monkeypatch):
    import reft_trl

    built = []

    class Recorder:
        def __init__(self, model, args, train_dataset):
            built.append(args)
            raise RuntimeError("recorded")

    monkeypatch.setattr(reft_trl, "ReFTSFTTrainer", Recorder)
    for argv, seed in (([], 42), (["--seed", "45"], 45), (["--seed", "45", "--sft_seed", "42"], 42)):
        with pytest.raises(RuntimeError, match="recorded"):
            bench._warm_up(bench.parse_args([*argv, "--precision", "fp32"]), [], str(tmp_path / "sft"))
        assert (built[-1].seed, built[-1].bf16) == (seed, False)


def test_the_wall_clock_budget_counts_time_spent_before_a_resume(bench, tmp_path):
    from transformers import TrainerControl, TrainerState

    (tmp_path / "wall_clock.json").write_text('{"seconds": 59.5, "step": 3}')
    callback = bench._wall_clock_limit(1.0, str(tmp_path))  # a one-minute budget, 59.5 s of it already spent
    state, control = TrainerState(global_step=3), TrainerControl()  # resumed from the checkpoint at step 3
    callback.on_train_begin(None, state, control)
    callback.on_step_end(None, state, control)
    assert not control.should_training_stop
    time.sleep(0.6)
    callback.on_step_end(None, state, control)
    assert control.should_training_stop and control.should_save
    assert bench._load_json(str(tmp_path / "wall_clock.json"))["seconds"] > 60


def test_a_pause_waits_for_the_end_of_a_rollout_and_never_takes_the_last_step(bench, tmp_path):
    from transformers import TrainerControl, TrainerState

    callback = bench._wall_clock_limit(0.0, str(tmp_path), pause_minutes=1e-9, steps_per_rollout=4)
    state = TrainerState(max_steps=8)
    callback.on_train_begin(None, state, TrainerControl())
    stops = {}
    for step in range(1, 9):
        state.global_step, control = step, TrainerControl()
        callback.on_step_end(None, state, control)
        stops[step] = control.should_training_stop and control.should_save
    assert stops == {1: False, 2: False, 3: False, 4: True, 5: False, 6: False, 7: False, 8: False}


def test_warm_up_only_trains_the_warm_up_and_evaluates_nothing(bench, tmp_path, monkeypatch):
    def warm_up(args, rows, output_dir):
        os.makedirs(output_dir)
        open(os.path.join(output_dir, "config.json"), "w").close()

    monkeypatch.setattr(bench, "_warm_up", warm_up)
    monkeypatch.setattr(bench, "_evaluate_splits", lambda *a: pytest.fail("evaluated"))
    result = bench.main(["--output_dir", str(tmp_path), "--warm_up_only"])
    assert result == {"warm_up": str(tmp_path / "sft")}
    assert "warm_up_only" not in bench._load_json(str(tmp_path / bench.SETTINGS_FILE))


def test_rl_questions_default_to_the_warm_ups_and_can_be_fresh_ones(bench):
    ranges = bench.question_ranges(bench.parse_args([]), 1000)
    assert ranges == (range(512), range(512), range(700, 1000))
    fresh = bench.question_ranges(bench.parse_args(["--rl_start", "512", "--rl_limit", "100"]), 1000)
    assert fresh == (range(512), range(512, 612), range(700, 1000))
    with pytest.raises(SystemExit, match="--rl_start \\+ --rl_limit reaches training question 700"):
        bench.question_ranges(bench.parse_args(["--rl_start", "600", "--rl_limit", "101"]), 1000)
    with pytest.raises(SystemExit, match="--train_limit reaches"):
        bench.question_ranges(bench.parse_args(["--train_limit", "701"]), 1000)


def test_the_wall_clock_counts_from_the_checkpoint_a_resume_starts_from_and_needs_no_limit(bench, tmp_path):
    from transformers import TrainerControl, TrainerState

    callback = bench._wall_clock_limit(0.0, str(tmp_path))  # no limit: it only counts
    state, control = TrainerState(), TrainerControl()
    callback.on_train_begin(None, state, control)
    state.global_step = 4
    callback.on_save(None, state, control)
    at_checkpoint = bench._load_json(str(tmp_path / "wall_clock.json"))["checkpoint_seconds"]
    time.sleep(0.2)
    state.global_step = 5  # a step after the checkpoint, lost when the run is killed
    callback.on_step_end(None, state, control)
    assert not control.should_training_stop
    counted = bench._load_json(str(tmp_path / "wall_clock.json"))
    assert counted["seconds"] >= at_checkpoint + 0.2 and counted["checkpoint_step"] == 4

    resumed = bench._wall_clock_limit(0.0, str(tmp_path))
    resumed.on_train_begin(None, state, control)
    assert resumed.spent_before == at_checkpoint  # step 5 is redone: its first try is not counted

    restarted = bench._wall_clock_limit(0.0, str(tmp_path))
    restarted.on_train_begin(None, TrainerState(), control)  # no checkpoint to resume: everything is redone
    assert restarted.spent_before == 0.0


def test_a_rerun_with_other_settings_is_refused_and_one_with_the_same_resumes(bench, tmp_path):
    first = bench.parse_args(["--output_dir", str(tmp_path), "--rollouts", "16"])
    bench.check_settings(first)
    bench.check_settings(bench.parse_args(["--output_dir", str(tmp_path), "--rollouts", "16", "--save_every", "2"]))
    with pytest.raises(SystemExit, match="--rollouts 16 there, 64 now"):
        bench.check_settings(bench.parse_args(["--output_dir", str(tmp_path), "--rollouts", "64"]))


def test_rl_questions_can_be_kept_by_the_warm_ups_pass_rate(bench, tmp_path, capsys):
    """Shares 0, 1/4, 1/2, 1 of correct samples: the default (0, 1) keeps the middle two, in the dataset's order; a
    question without a record, or a range that keeps none, is refused with the file's name."""
    import json

    from datasets import Dataset

    correct = {
        "q0": [False] * 4,
        "q1": [True, False, False, False],
        "q2": [True, True, False, False],
        "q3": [True] * 4,
    }
    path = tmp_path / "svamp-pcot-pass@1.predictions.jsonl"
    with open(path, "w") as handle:
        for item, flags in correct.items():
            record = {"item_id": item, "completions": [""] * 4, "extracted": [None] * 4, "correct": flags}
            handle.write(json.dumps({**record, "score": sum(flags) / 4}) + "\n")
    rows = Dataset.from_dict({"item_id": ["q3", "q2", "q1", "q0"], "prompt": ["d", "c", "b", "a"]})

    args = bench.parse_args(["--rl_pass_rates", str(path)])
    assert args.rl_pass_rate_range is None  # recorded settings of earlier runs lack it: None reads as theirs
    kept = bench.select_by_pass_rate(rows, str(path), 0.0, 1.0)
    assert kept["item_id"] == ["q2", "q1"] and kept["prompt"] == ["c", "b"]
    assert "2 of 4 RL questions" in capsys.readouterr().out
    assert bench.select_by_pass_rate(rows, str(path), 0.3, 1.0)["item_id"] == ["q2"]
    with pytest.raises(SystemExit, match="no RL question left"):
        bench.select_by_pass_rate(rows, str(path), 0.5, 0.6)
    extra = Dataset.from_dict({"item_id": ["q1", "q9"], "prompt": ["b", "z"]})
    with pytest.raises(SystemExit, match=f"{path.name}: no record of 1 of the 2 RL questions \\(first: 'q9'\\)"):
        bench.select_by_pass_rate(extra, str(path), 0.0, 1.0)


def test_question_ranges_refuse_sizes_outside_the_training_set(bench):
    with pytest.raises(SystemExit, match="--rl_start -1: must be between 0 and 999"):
        bench.question_ranges(bench.parse_args(["--rl_start", "-1"]), 1000)
    with pytest.raises(SystemExit, match="--dev_size 0: must be between 1 and 999"):
        bench.question_ranges(bench.parse_args(["--dev_size", "0"]), 1000)


def test_only_the_chosen_splits_are_evaluated_and_a_rerun_adds_the_test_set(bench, warm_up, tmp_path, monkeypatch):
    """Settings are chosen on `--splits dev` without a look at the test set; the same folder rerun with both splits
    evaluates the test set only (`splits` is a free setting)."""
    import reft_trl.evaluation
    from reft_trl.data import load_task

    evaluated = []
    real = reft_trl.evaluation.evaluate
    monkeypatch.setattr(
        reft_trl.evaluation, "evaluate", lambda *a, **k: evaluated.append(Path(k["output_dir"]).name) or real(*a, **k)
    )
    rows = load_task("svamp", cot="pcot", split="train", program_prefix_in_prompt=True).select(range(2))
    settings = ["--output_dir", str(tmp_path / "run"), "--max_completion_length", "4", "--eval_batch_size", "2"]
    dev_only = bench.parse_args([*settings, "--splits", "dev"])
    bench.check_settings(dev_only)
    results, _ = bench._evaluate_splits(dev_only, warm_up, "warm-up", {"test": rows, "dev": rows})
    assert set(results) == {"dev"} and evaluated == ["dev"] and len(results["dev"]) == 2

    both = bench.parse_args(settings)
    bench.check_settings(both)  # accepted: only what is evaluated changes
    results, _ = bench._evaluate_splits(both, warm_up, "warm-up", {"test": rows, "dev": rows})
    assert set(results) == {"test", "dev"} and evaluated == ["dev", "test"]


def test_a_folder_made_before_a_setting_existed_resumes_with_that_setting_at_its_default(bench, tmp_path):
    import json

    bench.check_settings(bench.parse_args(["--output_dir", str(tmp_path), "--rollouts", "16"]))
    path = tmp_path / bench.SETTINGS_FILE
    older = {key: value for key, value in json.loads(path.read_text()).items() if not key.startswith("lora_")}
    path.write_text(json.dumps(older))
    bench.check_settings(bench.parse_args(["--output_dir", str(tmp_path), "--rollouts", "16"]))
    with pytest.raises(SystemExit, match="--lora_r None there, 4 now"):
        bench.check_settings(bench.parse_args(["--output_dir", str(tmp_path), "--rollouts", "16", "--lora_r", "4"]))


def test_ppo_with_lora_trains_an_adapter_and_the_value_head_on_the_frozen_warm_up(bench, warm_up, tmp_path):
    """Only the adapter and the value head train; the stage counts as done once the adapter is saved, with the value
    head beside it; the evaluation loads the warm-up with the adapter merged, a plain causal LM."""
    import torch
    from transformers import AutoModelForCausalLM

    from reft_trl.data import load_task

    args = bench.parse_args(
        ["--method", "ppo", "--cot", "pcot", "--output_dir", str(tmp_path / "bench"), "--rollouts", "1",
         "--batch_size", "2", "--num_mini_batches", "1", "--max_completion_length", "6", "--lora_r", "2",
         "--precision", "fp32"]
    )  # fmt: skip
    rows = load_task("svamp", cot="pcot", split="train", program_prefix_in_prompt=True).select(range(2))
    trainer, _ = bench._build_trainer(args, warm_up, str(tmp_path / "built"), rows)
    trainable = [name for name, p in trainer.model.named_parameters() if p.requires_grad]
    assert all("lora_" in name or "v_head" in name for name in trainable)
    assert any("lora_" in name for name in trainable) and any("v_head" in name for name in trainable)
    lora = trainer.model.peft_config["default"]
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (2, 32.0, 0.0)

    output_dir = str(tmp_path / "bench" / "ppo")
    bench._train(args, warm_up, output_dir, rows)
    assert bench.saved_model(output_dir) and not os.path.isfile(os.path.join(output_dir, "config.json"))
    assert os.path.isfile(os.path.join(output_dir, "value_head.safetensors"))
    merged = bench.load_policy(output_dir, torch.float32, warm_up_dir=warm_up)
    assert type(merged) is type(AutoModelForCausalLM.from_pretrained(warm_up))
    assert not any("lora_" in name for name, _ in merged.named_parameters())


def test_the_sft_control_with_lora_moves_only_the_adapted_layers_once_merged(bench, warm_up, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from reft_trl.data import load_task

    args = bench.parse_args(
        ["--method", "sft", "--cot", "pcot", "--output_dir", str(tmp_path / "bench"), "--rollouts", "1",
         "--batch_size", "2", "--num_mini_batches", "1", "--learning_rate", "1e-2", "--lora_r", "2",
         "--precision", "fp32"]
    )  # fmt: skip
    rows = load_task("svamp", cot="pcot", split="train").select(range(2))
    output_dir = str(tmp_path / "bench" / "continued-sft")
    bench._train(args, warm_up, output_dir, rows)
    merged = bench.load_policy(output_dir, torch.float32, warm_up_dir=warm_up)
    original = AutoModelForCausalLM.from_pretrained(warm_up)
    moved = [
        name
        for (name, a), (_, b) in zip(merged.named_parameters(), original.named_parameters())
        if not torch.equal(a, b)
    ]
    assert moved and all(".layers." in name for name in moved)  # adapted linear layers; embeddings untouched
    # In bf16: merged in float32, then cast (a merge into bf16 weights would drop updates under half a bf16 step)
    merged_bf16 = bench.load_policy(output_dir, torch.bfloat16, warm_up_dir=warm_up)
    assert all(
        a.dtype == torch.bfloat16 and torch.equal(a, b.to(torch.bfloat16))
        for a, b in zip(merged_bf16.parameters(), merged.parameters())
    )
    with pytest.raises(ValueError, match="LoRA adapter"):
        bench.load_policy(output_dir, torch.float32)


def test_lora_settings_without_a_rank_are_refused(bench):
    bench.check_lora(bench.parse_args(["--lora_r", "1", "--lora_alpha", "8"]))
    with pytest.raises(SystemExit, match="--lora_alpha set without --lora_r"):
        bench.check_lora(bench.parse_args(["--lora_alpha", "8"]))
    with pytest.raises(SystemExit, match="must be positive"):
        bench.check_lora(bench.parse_args(["--lora_r", "-1"]))


def test_a_paused_rl_stage_saves_only_its_checkpoint_and_resumes_where_it_was_carried(bench, warm_up, tmp_path):
    """`--stop_after_minutes` leaves the stage unfinished (no model saved, so a rerun trains on); its checkpoint,
    copied to another folder (another machine), resumes from the paused step to the end of the budget."""
    import shutil
    import warnings

    from reft_trl.data import load_task

    argv = ["--method", "sft", "--cot", "pcot", "--rollouts", "3", "--batch_size", "2", "--num_mini_batches", "1",
            "--save_every", "3", "--lora_r", "1", "--precision", "fp32"]  # fmt: skip
    rows = load_task("svamp", cot="pcot", split="train").select(range(4))
    paused = bench.parse_args([*argv, "--output_dir", str(tmp_path / "bench"), "--stop_after_minutes", "1e-9"])
    output_dir = str(tmp_path / "bench" / "continued-sft")
    assert bench._train(paused, warm_up, output_dir, rows) is None
    assert not bench.saved_model(output_dir)
    assert os.listdir(output_dir) and os.path.isdir(os.path.join(output_dir, "checkpoint-1"))  # before save_every
    assert bench._load_json(os.path.join(output_dir, bench.WALL_CLOCK_FILE))["checkpoint_step"] == 1
    assert os.path.isfile(os.path.join(output_dir, "checkpoint-1", "optimizer.pt"))  # resumed exactly

    carried = str(tmp_path / "elsewhere" / "continued-sft")
    shutil.copytree(os.path.join(output_dir, "checkpoint-1"), os.path.join(carried, "checkpoint-1"))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*holds the weights only")  # the optimizer state is there
        history = bench._train(
            bench.parse_args([*argv, "--output_dir", str(tmp_path / "elsewhere")]), warm_up, carried, rows
        )
    assert history is not None and bench.saved_model(carried)
    assert [entry["step"] for entry in history if "loss" in entry] == [1, 2, 3]  # step 1 from before the pause
