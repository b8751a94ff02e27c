"""CPU learning benchmark: does ReFT improve on its warm-up? SmolLM2-135M-Instruct on SVAMP, greedy, paired.

Stages, each skipped when its output exists (so a killed run resumes where it stopped, PPO from its last checkpoint,
an evaluation from its last question; a rerun must repeat the settings recorded in `settings.json`, or it is refused):

1. `sft`: warm-up (`ReFTSFTTrainer`) on the first `--train_limit` SVAMP training questions.
2. `eval-sft`: greedy accuracy of the warm-up on the SVAMP test set (all 1,000 questions by default) and on a
   development split: the LAST `--dev_size` training questions, never trained on (settings are chosen on it;
   `--splits dev` evaluates it alone, and a rerun with `--splits test dev` adds the test set later).
3. `rl`: the method from the warm-up, on the same training questions (or on `--rl_limit` others from `--rl_start`,
   questions the warm-up never saw; with `--rl_pass_rates`, only those whose warm-up pass rate, measured by
   `bench_sampled_accuracy.py --splits train`, lies within `--rl_pass_rate_range`): `ppo` (ReFT), `grpo` (TRL's
   GRPOTrainer, the same reward, critic-free), `online_st` (online self-training, the paper's baseline: one sample per
   question from the current policy, cross-entropy on the samples the reward marks correct and on the gold chains of
   thought, half each) or `sft` (continued supervised training, the "just train longer" control) for `--rl_minutes`
   of wall time or `--rollouts` rollouts, whichever comes first; checkpoints every `--save_every` rollouts, the model
   in `--output_dir`'s folder named after the method (`continued-sft/` for `sft`: `sft/` holds the warm-up).
4. `eval-rl`: the same evaluations of the trained model.
5. `summary.json`: accuracies, the paired difference (on each evaluated split) with its bootstrap 95 % interval and
   the exact McNemar p, timings, the command, the load average; `training_curves.png` (reward, training accuracy, KL per
   sequence, explained variance, truncated share, value loss).

    python benchmarks/bench_learning_svamp.py --output_dir outputs/bench-ppo                  # ReFT
    python benchmarks/bench_learning_svamp.py --method sft --sft_dir outputs/bench-ppo/sft \\
        --output_dir outputs/bench-sft-more                                                    # a control

With `--lora_r R` the RL stage (or the SFT control) trains a LoRA adapter of rank R (no dropout: a rollout's
log-probabilities and the update's must come from the same function) on every linear layer of the frozen warm-up's
decoder blocks (PEFT's "all-linear": not `lm_head`, tied to the embeddings); the adapter is saved in the method's
folder and, for the evaluation, merged in float32 into the warm-up this run names (`--sft_dir` or its own `sft/`).

A run longer than a session: `--stop_after_minutes M` pauses the RL stage with a checkpoint after M minutes of this
invocation's training, the model left unsaved, so the same command resumes it; the method folder's last
`checkpoint-N/` (with LoRA a few MB: adapter, value head, optimizer state) and its `wall_clock.json` are all a next
machine needs besides the warm-up. `--rl_precision` sets the RL stage's precision apart from `--precision` (the
warm-up's and the evaluations'): a float32 warm-up trains again to the same greedy answers on other processors.

Sampled completions per rollout: `--batch_size * --num_mini_batches`; every method sees the same number of training
samples per rollout (`--rollouts` fixes the budget in samples, `--rl_minutes` in time). PPO, GRPO and online
self-training pass twice over each rollout (`--batch_size` per optimizer step), SFT once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

METHODS = ("ppo", "grpo", "online_st", "sft")
TITLES = {
    "ppo": "ReFT (PPO)", "grpo": "GRPO control", "online_st": "Online self-training control",
    "sft": "Continued SFT control",
}  # fmt: skip
WALL_CLOCK_FILE = "wall_clock.json"
"""The RL stage's training wall time, counted across resumes (`_wall_clock_limit`): the `rl_s` of timings.json."""
SPLITS = ("test", "dev")
"""The evaluated splits: the SVAMP test set and the development split carved from the training questions."""
ROLLOUT_PASSES = 2
"""Passes over each rollout batch of the sampling methods: PPO epochs, GRPO and online self-training iterations."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--output_dir", default="outputs/bench-learning-svamp")
    add("--method", choices=METHODS, default="ppo", help="ppo (ReFT) or a control: grpo, online_st, sft")
    add("--cot", choices=("ncot", "pcot"), default="pcot")
    add("--train_limit", type=int, default=512, help="first N training questions: the warm-up's, and RL's by default")
    add("--dev_size", type=int, default=300, help="last N training questions: the development split")
    add("--rl_start", type=int, default=0, help="first training question of the RL stage (and of the SFT control)")
    add("--rl_limit", type=int, default=0, help="training questions of the RL stage (0: --train_limit)")
    add(
        "--rl_pass_rates", default=None,
        help="a pass@k predictions file of the warm-up on the RL questions (bench_sampled_accuracy.py --splits "
        "train): RL keeps only the questions whose share of correct samples lies in --rl_pass_rate_range",
    )  # fmt: skip
    add(
        "--rl_pass_rate_range", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
        help="with --rl_pass_rates: the shares kept, bounds excluded (default 0 1: the questions the warm-up solves "
        "sometimes but not always)",
    )  # fmt: skip
    add("--eval_limit", type=int, default=0, help="test questions (0 = all 1,000)")
    add(
        "--splits", nargs="+", choices=SPLITS, default=list(SPLITS),
        help="splits evaluated: 'dev' alone chooses settings without touching the test set; a rerun adding 'test' "
        "evaluates the same models on it",
    )  # fmt: skip
    add(
        "--seed", type=int, default=42, help="the RL stage's (or the SFT control's) seed; the warm-up's too by default"
    )
    add("--sft_seed", type=int, default=None, help="the warm-up's seed (default: --seed)")
    add(
        "--precision", choices=("auto", "fp32", "bf16"), default="auto",
        help="auto: bf16 autocast where the CPU computes bf16 natively (AVX512-BF16, AMX), else float32; fp32 or bf16 "
        "force one, e.g. to repeat on another machine a run made in the other precision",
    )  # fmt: skip
    add(
        "--rl_precision", choices=("auto", "fp32", "bf16"), default=None,
        help="the RL stage's (or the SFT control's) training precision, rollouts included (default: --precision, "
        "which then sets the warm-up's and the evaluations'): e.g. a float32 warm-up, which other processors train "
        "again to the same weights, with a bf16 RL stage",
    )  # fmt: skip
    # warm-up
    add("--sft_dir", default=None, help="reuse this warm-up instead of training one")
    add("--sft_epochs", type=float, default=2.0)
    add("--sft_learning_rate", type=float, default=5e-5)
    # RL
    add("--rollouts", type=int, default=40)
    add("--rl_minutes", type=float, default=0.0, help="stop the RL stage after this wall time (0: no limit)")
    add("--batch_size", type=int, default=8)
    add("--num_mini_batches", type=int, default=4)
    add("--learning_rate", type=float, default=2e-6)
    add("--kl_coef", type=float, default=0.01, help="PPO only")
    add("--lam", type=float, default=1.0)
    add("--critic_lam", type=float, default=None)
    add("--vf_coef", type=float, default=5.0)
    add("--critic_learning_rate", type=float, default=1e-4)
    add("--critic_warmup_rollouts", type=int, default=1)
    add("--critic_detach_backbone", type=int, default=1)
    add("--missing_eos_penalty", type=float, default=None)
    add("--mask_truncated_completions", type=int, default=0)
    add("--max_sequence_kl", type=float, default=None)
    add("--num_generations", type=int, default=4, help="GRPO only: samples per question")
    add("--max_completion_length", type=int, default=160)
    add(
        "--lora_r", type=int, default=0,
        help="train the RL stage (or the SFT control) as a LoRA adapter of this rank on the warm-up, frozen (0: all "
        "weights); the reference model is then the warm-up itself, and a checkpoint holds only the adapter, the value "
        "head and their optimizer state",
    )  # fmt: skip
    add(
        "--lora_alpha", type=float, default=32.0,
        help="LoRA's scale numerator, the update scaled by alpha / r (32: TRL's default, and the setting under which "
        "LoRA's best learning rate has been about 10x full fine-tuning's)",
    )  # fmt: skip
    add(
        "--lora_target_modules", default="all-linear",
        help="modules LoRA adapts: 'all-linear', or PEFT's regular expression matched against whole module names",
    )  # fmt: skip
    add("--save_every", type=int, default=4, help="rollouts between checkpoints")
    add(
        "--warm_up_only", action="store_true",
        help="train the warm-up (unless it exists) and stop before evaluating it: e.g. to check it before the run goes "
        "on. Not part of the run's settings",
    )  # fmt: skip
    add(
        "--stop_after_minutes", type=float, default=0.0,
        help="pause the RL stage with a checkpoint once this invocation has trained this long (0: never), leaving "
        "it unfinished: the same command resumes it (for a run longer than a session; the checkpoint can be carried "
        "to another machine). Unlike --rl_minutes, not part of the run's settings",
    )  # fmt: skip
    add("--eval_batch_size", type=int, default=64)
    add(
        "--hf_decoding",
        default="shrinking",
        choices=("dynamic", "static", "compiled", "shrinking"),
        help="evaluation decoding (reft_trl.generation.HF_DECODINGS); "
        "shrinking: finished answers leave the batch, greedy tokens as generate's",
    )
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    check_lora(args)
    check_settings(args)
    from reft_trl.data import load_task

    train = load_task("svamp", cot=args.cot, split="train")
    sft_range, rl_range, dev_range = question_ranges(args, len(train))
    sft_rows = train.select(sft_range)
    prompt_kwargs = dict(program_prefix_in_prompt=args.cot == "pcot")
    train_prompts = load_task("svamp", cot=args.cot, split="train", **prompt_kwargs)
    rl_rows = train.select(rl_range) if args.method == "sft" else train_prompts.select(rl_range)
    if args.rl_pass_rates:
        rl_rows = select_by_pass_rate(rl_rows, args.rl_pass_rates, *(args.rl_pass_rate_range or (0.0, 1.0)))
    dev = train_prompts.select(dev_range)
    test = load_task("svamp", cot=args.cot, split="test", limit=args.eval_limit or None, **prompt_kwargs)
    print(
        f"[bench] {len(sft_rows)} warm-up, {len(rl_rows)} RL (from question {rl_range.start}), {len(dev)} dev, "
        f"{len(test)} test questions (svamp {args.cot})"
    )

    timings = _load_json(os.path.join(args.output_dir, "timings.json")) or {}
    sft_dir, rl_dir = stage_dirs(args)
    if not os.path.isfile(os.path.join(sft_dir, "config.json")):
        timings["sft_s"] = _timed(lambda: _warm_up(args, sft_rows, sft_dir))
        _save_json(os.path.join(args.output_dir, "timings.json"), timings)
    if args.warm_up_only:
        print(f"[bench] --warm_up_only: the warm-up is in {sft_dir}")
        return {"warm_up": sft_dir}
    evals, datasets = {}, {"test": test, "dev": dev}
    for name, model_dir in (("warm-up", sft_dir),):
        timings[f"eval_{name}_s"] = timings.get(f"eval_{name}_s") or 0.0
        evals[name], seconds = _evaluate_splits(args, model_dir, name, datasets)
        timings[f"eval_{name}_s"] += seconds
        _save_json(os.path.join(args.output_dir, "timings.json"), timings)

    if not saved_model(rl_dir) and _train(args, sft_dir, rl_dir, rl_rows) is None:
        step = (_load_json(os.path.join(rl_dir, WALL_CLOCK_FILE)) or {}).get("checkpoint_step")
        print(f"[bench] paused after --stop_after_minutes {args.stop_after_minutes:g}, checkpoint at step {step} in "
              f"{rl_dir}: the same command resumes it")  # fmt: skip
        return {"paused_at_step": step}
    wall_clock = _load_json(os.path.join(rl_dir, WALL_CLOCK_FILE))
    if wall_clock is not None:  # read even when training ended in an earlier invocation
        timings["rl_s"] = wall_clock["seconds"]  # across resumes
        _save_json(os.path.join(args.output_dir, "timings.json"), timings)
    evals[args.method], seconds = _evaluate_splits(args, rl_dir, args.method, datasets)
    timings[f"eval_{args.method}_s"] = timings.get(f"eval_{args.method}_s", 0.0) + seconds
    _save_json(os.path.join(args.output_dir, "timings.json"), timings)

    from reft_trl.evaluation.paired import format_paired, paired_comparison

    comparison = {
        split: paired_comparison(evals["warm-up"][split], evals[args.method][split]) for split in args.splits
    }
    history = _load_json(os.path.join(args.output_dir, "log_history.json")) or []
    from reft_trl.scripts.demo import CURVES, SFT_CURVES, plot_training_curves

    plot_path = plot_training_curves(
        history, os.path.join(args.output_dir, "training_curves.png"), title=f"{TITLES[args.method]} from the warm-up",
        curves=SFT_CURVES if args.method == "sft" else CURVES,
    )  # fmt: skip
    summary = {
        "command": "python benchmarks/bench_learning_svamp.py " + shlex.join(argv),
        "settings": vars(args),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}",
        "load_average_at_end": os.getloadavg(),
        "accuracy": {
            name: {split: sum(flags) / len(flags) for split, flags in result.items()} for name, result in evals.items()
        },
        "paired": comparison,
        "timings": timings,
        "curves": plot_path,
    }
    _save_json(os.path.join(args.output_dir, "summary.json"), summary)
    for split in args.splits:
        print(f"[bench] {split}: " + format_paired(comparison[split], "warm-up", args.method))
    return summary


SETTINGS_FILE = "settings.json"
"""The settings an output folder was made with; a rerun (to resume) must repeat them."""
FREE_SETTINGS = ("output_dir", "save_every", "eval_batch_size", "splits", "stop_after_minutes", "warm_up_only")
"""Settings a rerun may change: they do not change what is trained or how it is measured (`splits` only adds or
leaves out evaluations)."""


def check_settings(args) -> None:
    """Record the run's settings in its output folder, or refuse a rerun whose settings differ from the recorded ones:
    every finished stage is reused as it is, so its results would be reported beside settings that did not make
    them."""
    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, SETTINGS_FILE)
    settings = {key: value for key, value in vars(args).items() if key not in FREE_SETTINGS}
    recorded = _load_json(path)
    if recorded is None:
        _save_json(path, settings)
        return
    defaults = vars(parse_args([]))  # a setting added since the folder was made counts as unchanged at its default
    changed = {
        key
        for key in settings.keys() | recorded.keys()
        if settings.get(key) != recorded.get(key) and not (key not in recorded and settings[key] == defaults.get(key))
    }
    if changed:
        differences = "; ".join(
            f"--{key} {recorded.get(key)!r} there, {settings.get(key)!r} now" for key in sorted(changed)
        )
        raise SystemExit(
            f"{args.output_dir} holds a run made with other settings ({differences}); its finished stages would be "
            "reused. Use another --output_dir (or repeat those settings to resume it)."
        )


def stage_dirs(args) -> tuple[str, str]:
    """The warm-up's folder (`--sft_dir`, else `sft/` in `--output_dir`) and the trained model's (the method's name in
    `--output_dir`; `continued-sft/` for the SFT control, whose name is the warm-up's folder)."""
    sft_dir = args.sft_dir or os.path.join(args.output_dir, "sft")
    rl_dir = os.path.join(args.output_dir, "continued-sft" if args.method == "sft" else args.method)
    if os.path.abspath(rl_dir) == os.path.abspath(sft_dir):
        raise ValueError(f"--sft_dir {args.sft_dir} is where the {args.method} stage saves its model: use another")
    return sft_dir, rl_dir


def saved_model(folder: str) -> bool:
    """Whether a stage's model is saved in `folder`: a whole model (`config.json`) or a LoRA adapter."""
    return any(os.path.isfile(os.path.join(folder, name)) for name in ("config.json", "adapter_config.json"))


def check_lora(args) -> None:
    """Refuse LoRA settings that would be ignored or are impossible (before any model is loaded)."""
    if args.lora_r < 0:
        raise SystemExit(f"--lora_r {args.lora_r}: a rank must be positive (0: no adapter).")
    defaults = vars(parse_args([]))
    ignored = [f"--{key}" for key in ("lora_alpha", "lora_target_modules") if getattr(args, key) != defaults[key]]
    if ignored and not args.lora_r:
        raise SystemExit(
            f"{' and '.join(ignored)} set without --lora_r: no adapter is trained, so they would be ignored."
        )


def lora_config(args):
    """PEFT's `LoraConfig` of `--lora_r` (None for training all weights)."""
    check_lora(args)
    if not args.lora_r:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=0.0, target_modules=args.lora_target_modules,
        task_type="CAUSAL_LM",
    )  # fmt: skip


def load_policy(model_dir: str, dtype, warm_up_dir: str | None = None):
    """The model saved in `model_dir` for evaluation, in `dtype`. A LoRA adapter is merged into `warm_up_dir` (the
    model it was trained on, named by this run rather than by the path the adapter recorded) in float32, then cast:
    merged into bf16 weights, updates smaller than half a bf16 step would be lost, as a full model's are not."""
    import torch
    from transformers import AutoModelForCausalLM

    if os.path.isfile(os.path.join(model_dir, "adapter_config.json")):
        from peft import PeftModel

        if warm_up_dir is None:
            raise ValueError(f"{model_dir} holds a LoRA adapter: name the warm-up it was trained on.")
        base = AutoModelForCausalLM.from_pretrained(warm_up_dir, dtype=torch.float32)
        return PeftModel.from_pretrained(base, model_dir).merge_and_unload().to(dtype)
    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)


def question_ranges(args, n_train: int) -> tuple[range, range, range]:
    """Rows of the training file for the warm-up, the RL stage (the SFT control trains on the same questions' gold
    chains of thought) and the development split (the last `--dev_size`); the dev split overlaps neither."""
    for name, value, low, high in (
        ("--dev_size", args.dev_size, 1, n_train - 1), ("--train_limit", args.train_limit, 1, n_train - 1),
        ("--rl_start", args.rl_start, 0, n_train - 1), ("--rl_limit", args.rl_limit, 0, n_train - 1),
    ):  # fmt: skip
        if not low <= value <= high:
            raise SystemExit(f"{name} {value}: must be between {low} and {high} ({n_train} training questions).")
    dev_range = range(n_train - args.dev_size, n_train)
    sft_range = range(args.train_limit)
    rl_range = range(args.rl_start, args.rl_start + (args.rl_limit or args.train_limit))
    for name, rows in (("--train_limit", sft_range), ("--rl_start + --rl_limit", rl_range)):
        if rows.stop > dev_range.start:
            raise SystemExit(
                f"{name} reaches training question {rows.stop - 1}: it overlaps the last {args.dev_size} (dev) "
                f"questions of the {n_train}."
            )
    return sft_range, rl_range, dev_range


def select_by_pass_rate(rows, path: str, low: float, high: float):
    """The rows whose share of correct samples in the pass@k predictions file `path` lies strictly between `low` and
    `high`: RL's samples spent where the warm-up is sometimes right and sometimes wrong (a question it always solves,
    or never, gives PPO little to learn from). Every row must have a record in the file."""
    from reft_trl.evaluation.report import read_predictions

    shares = {record["item_id"]: sum(record["correct"]) / len(record["correct"]) for record in read_predictions(path)}
    missing = [item for item in rows["item_id"] if item not in shares]
    if missing:
        raise SystemExit(
            f"--rl_pass_rates {path}: no record of {len(missing)} of the {len(rows)} RL questions (first: "
            f"{missing[0]!r}); sample them with bench_sampled_accuracy.py --splits train."
        )
    kept = [index for index, item in enumerate(rows["item_id"]) if low < shares[item] < high]
    print(
        f"[bench] {len(kept)} of {len(rows)} RL questions have a warm-up pass rate strictly between {low} and {high} "
        f"({path})"
    )
    if not kept:
        raise SystemExit(f"--rl_pass_rate_range {low} {high}: no RL question left ({path}).")
    return rows.select(kept)


def use_bf16(args, stage: str = "") -> bool:
    """Whether the warm-up and the evaluations (or, with `stage="rl"`, the RL stage's training and rollouts) run in
    bf16 (`--precision`, `--rl_precision`; auto: the CPU's native bf16)."""
    precision = (args.rl_precision if stage == "rl" else None) or args.precision
    if precision == "auto":
        from reft_trl.precision import cpu_supports_bf16

        return cpu_supports_bf16()
    return precision == "bf16"


# ----------------------------------------------------------------------------------------------------------------
# Stages


def _warm_up(args, rows, output_dir):
    from reft_trl import ReFTSFTConfig, ReFTSFTTrainer
    from reft_trl.embedded_model import smollm2_path

    config = ReFTSFTConfig(
        output_dir=output_dir, task="svamp", cot=args.cot, num_train_epochs=args.sft_epochs, stop_after_epoch=None,
        learning_rate=args.sft_learning_rate, per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=1, max_length=512, save_strategy="no", logging_steps=5, report_to="none",
        use_cpu=True, gradient_checkpointing=False, seed=args.seed if args.sft_seed is None else args.sft_seed,
        bf16=use_bf16(args),
    )  # fmt: skip
    trainer = ReFTSFTTrainer(model=smollm2_path(), args=config, train_dataset=rows)
    trainer.train()
    trainer.save_model(output_dir)
    _save_json(os.path.join(os.path.dirname(output_dir), "sft_log_history.json"), trainer.state.log_history)


def _train(args, sft_dir, output_dir, rows) -> list[dict] | None:
    """Train (resuming the last checkpoint in `output_dir`) and save the model; None, with nothing saved but the
    checkpoint, when `--stop_after_minutes` paused the stage before its end."""
    from transformers.trainer_utils import get_last_checkpoint

    trainer, tokenizer = _build_trainer(args, sft_dir, output_dir, rows)
    last = get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None
    trainer.train(resume_from_checkpoint=last)
    if any(getattr(callback, "paused", False) for callback in trainer.callback_handler.callbacks):
        return None
    # The history first: a saved model means a finished stage, which a rerun does not repeat
    _save_json(os.path.join(args.output_dir, "log_history.json"), trainer.state.log_history)
    tokenizer.save_pretrained(output_dir)
    trainer.save_model(output_dir)
    return trainer.state.log_history


def _build_trainer(args, sft_dir, output_dir, rows):
    """`(trainer, tokenizer)` of `args.method` from the warm-up in `sft_dir`, for `args.rollouts` rollouts."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(sft_dir, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(sft_dir)
    # Optimizer steps per rollout, one per `--batch_size` samples (no gradient accumulation): the sampling methods
    # take `--num_mini_batches` steps per pass over a rollout batch and pass ROLLOUT_PASSES times; SFT passes once.
    sampling = args.method in ("ppo", "grpo", "online_st")
    steps_per_rollout = args.num_mini_batches * (ROLLOUT_PASSES if sampling else 1)
    common = dict(
        output_dir=output_dir, learning_rate=args.learning_rate, per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=1, max_steps=args.rollouts * steps_per_rollout, logging_steps=steps_per_rollout,
        save_strategy="steps", save_steps=args.save_every * steps_per_rollout, save_total_limit=1, report_to="none",
        use_cpu=True, gradient_checkpointing=False, seed=args.seed, bf16=use_bf16(args, "rl"),
    )  # fmt: skip
    callbacks = [_wall_clock_limit(args.rl_minutes, output_dir, args.stop_after_minutes, steps_per_rollout)]
    if args.method == "ppo":
        from reft_trl import ReFTPPOConfig, ReFTPPOTrainer

        config = ReFTPPOConfig(
            **common, task="svamp", cot=args.cot, kl_coef=args.kl_coef, lam=args.lam, critic_lam=args.critic_lam,
            vf_coef=args.vf_coef, num_mini_batches=args.num_mini_batches,
            max_completion_length=args.max_completion_length, critic_learning_rate=args.critic_learning_rate,
            critic_warmup_rollouts=args.critic_warmup_rollouts,
            critic_detach_backbone=bool(args.critic_detach_backbone), missing_eos_penalty=args.missing_eos_penalty,
            mask_truncated_completions=bool(args.mask_truncated_completions), max_sequence_kl=args.max_sequence_kl,
        )  # fmt: skip
        trainer_class, extra = ReFTPPOTrainer, {}
    elif args.method == "grpo":
        from trl import GRPOConfig, GRPOTrainer

        from reft_trl.rewards import get_reward
        from reft_trl.trainers.mixed_precision_generation import MixedPrecisionGenerationMixin

        class BF16GenerationGRPOTrainer(MixedPrecisionGenerationMixin, GRPOTrainer):
            """TRL's GRPO, generating under the same bf16 autocast as ReFT's PPO (a like-for-like time budget)."""

        config = GRPOConfig(
            **common, num_generations=args.num_generations, steps_per_generation=args.num_mini_batches,
            num_iterations=2, epsilon=0.2, beta=0.0, temperature=1.0, top_k=0, top_p=1.0,
            max_completion_length=args.max_completion_length, lr_scheduler_type="constant",
            mask_truncated_completions=bool(args.mask_truncated_completions), disable_dropout=True,
        )  # fmt: skip
        trainer_class, extra = BF16GenerationGRPOTrainer, {"reward_funcs": get_reward("svamp", args.cot)}
    elif args.method == "online_st":
        from reft_trl import OnlineSelfTrainingConfig, OnlineSelfTrainingTrainer
        from reft_trl.trainers.mixed_precision_generation import MixedPrecisionGenerationMixin

        class BF16GenerationOnlineSelfTrainingTrainer(MixedPrecisionGenerationMixin, OnlineSelfTrainingTrainer):
            """Online self-training, generating under the same bf16 autocast as ReFT's PPO (a like-for-like time
            budget)."""

        # The budget of PPO, mapped onto TRL's GRPO loop, which the trainer runs: one rollout every
        # `steps_per_generation * num_iterations` optimizer steps (= steps_per_rollout), sampling
        # `per_device_train_batch_size * steps_per_generation` questions x `num_generations=1` solution
        # (= batch_size * num_mini_batches completions, PPO's rollout batch); each is trained on ROLLOUT_PASSES times,
        # as PPO's epochs. So `max_steps = rollouts * steps_per_rollout` samples `rollouts * batch_size *
        # num_mini_batches` completions, as PPO.
        config = OnlineSelfTrainingConfig(
            **common, task="svamp", cot=args.cot, num_generations=1, steps_per_generation=args.num_mini_batches,
            num_iterations=ROLLOUT_PASSES, temperature=1.0, top_k=0, top_p=1.0,
            max_completion_length=args.max_completion_length, lr_scheduler_type="constant",
            mask_truncated_completions=bool(args.mask_truncated_completions),
        )  # fmt: skip
        trainer_class, extra = BF16GenerationOnlineSelfTrainingTrainer, {}
    else:
        from reft_trl import ReFTSFTConfig, ReFTSFTTrainer

        config = ReFTSFTConfig(
            **common, task="svamp", cot=args.cot, num_train_epochs=1000, stop_after_epoch=None, max_length=512,
            lr_scheduler_type="constant",
            save_only_model=not args.lora_r,  # an adapter's checkpoint resumes exactly (optimizer state: a few MB)
        )  # fmt: skip
        trainer_class, extra = ReFTSFTTrainer, {}
    trainer = trainer_class(
        model=model, args=config, train_dataset=rows, processing_class=tokenizer, callbacks=callbacks,
        peft_config=lora_config(args), **extra,
    )  # fmt: skip
    return trainer, tokenizer


def _wall_clock_limit(minutes: float, output_dir: str, pause_minutes: float = 0.0, steps_per_rollout: int = 1):
    """A callback that counts the training wall time across resumes in `output_dir/wall_clock.json` (written after
    every step; a resume starts from the time counted at the checkpoint it resumes, so redone steps count once, and a
    fresh start from 0) and, when `minutes` is not 0, stops training (with a checkpoint) once that much has passed.
    With `pause_minutes`, it also stops (with a checkpoint, and `paused` set: the stage is not over) at the first end
    of a rollout (every `steps_per_rollout` optimizer steps: a rollout's position is not in a checkpoint, so a resume
    must start a new one) after this invocation has trained that long, unless it is the last step."""
    from transformers import TrainerCallback

    path = os.path.join(output_dir, WALL_CLOCK_FILE)

    class WallClockLimit(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            # A fresh start (step 0) redoes everything: a count left by a run stopped before its first checkpoint
            # is void.
            counted = (_load_json(path) or {}) if state.global_step else {}
            self.spent_before = counted.get("checkpoint_seconds", counted.get("seconds", 0.0))
            self.checkpoint = {
                key: counted[key] for key in ("checkpoint_seconds", "checkpoint_step") if key in counted
            }
            self.started = time.perf_counter()
            self.paused = False

        def on_step_end(self, args, state, control, **kwargs):
            spent = self._record(state)
            if minutes and spent > 60 * minutes:
                control.should_training_stop = True
                control.should_save = True
            elif (
                pause_minutes
                and time.perf_counter() - self.started > 60 * pause_minutes
                and state.global_step % steps_per_rollout == 0
                and state.global_step < state.max_steps
            ):
                control.should_training_stop = control.should_save = self.paused = True

        def on_save(self, args, state, control, **kwargs):
            self._record(state, checkpoint=True)

        def _record(self, state, checkpoint: bool = False) -> float:
            """Write the time counted so far (and, at a checkpoint, remember it as the checkpoint's); return it."""
            spent = self.spent_before + time.perf_counter() - self.started
            if checkpoint:
                self.checkpoint = {"checkpoint_seconds": spent, "checkpoint_step": state.global_step}
            _save_json(path, {"seconds": spent, "step": state.global_step, **self.checkpoint})
            return spent

    return WallClockLimit()


def _evaluate_splits(args, model_dir, name, datasets: dict) -> tuple[dict, float]:
    """Greedy correctness per question (in dataset order) on each of `args.splits` (`datasets` maps a split to its
    questions), and the seconds spent evaluating (0 for evaluations already complete)."""
    import torch
    from transformers import AutoTokenizer

    from reft_trl.evaluation import evaluate
    from reft_trl.evaluation.report import read_predictions

    seconds = 0.0
    tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    model = None
    results = {}
    for split in args.splits:
        rows = datasets[split]
        folder = os.path.join(args.output_dir, "eval", name, split)
        predictions = os.path.join(folder, f"svamp-{args.cot}-greedy.predictions.jsonl")
        summary = _load_json(os.path.join(folder, f"svamp-{args.cot}-greedy.summary.json")) or {}
        if not (summary.get("complete") and summary.get("n") == len(rows)):  # evaluate, resuming any partial run
            started = time.perf_counter()
            if model is None:
                dtype = torch.bfloat16 if use_bf16(args) else torch.float32
                model = load_policy(model_dir, dtype, warm_up_dir=stage_dirs(args)[0])
            evaluate(
                model, tokenizer, rows, "svamp", args.cot, mode="greedy", max_new_tokens=args.max_completion_length,
                batch_size=args.eval_batch_size, output_dir=folder, backend="hf", hf_decoding=args.hf_decoding,
                print_summary=False, resume=True,
            )  # fmt: skip
            seconds += time.perf_counter() - started
        by_id = {record["item_id"]: record["score"] for record in read_predictions(predictions)}
        results[split] = [bool(by_id[item]) for item in rows["item_id"]]
        print(f"[bench] {name} {split}: {sum(results[split])}/{len(rows)} correct")
    return results, seconds


def _timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def _load_json(path):
    if not os.path.isfile(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def _save_json(path, value):
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(value, handle, indent=2, default=str)
    os.replace(temporary, path)


if __name__ == "__main__":
    main()
