"""`reft-trl`: the stages on the command line, in the manner of `trl sft` / `trl grpo`.

    reft-trl demo                                   # ReFT end to end on the embedded model (CPU-sized)
    reft-trl sft  --config recipes/svamp/codellama-7b/ncot/sft.yaml
    reft-trl ppo  --config recipes/svamp/codellama-7b/ncot/ppo.yaml --model_name_or_path <epoch-2 checkpoint>
    reft-trl offline-st --config recipes/svamp/codellama-7b/ncot/offline_st.yaml --warmup_model <epoch-2 checkpoint>
    reft-trl online-st  --config recipes/svamp/codellama-7b/ncot/online_st.yaml --model_name_or_path <epoch-2 checkpoint>
    reft-trl grpo --config recipes/demo/smollm2-135m/svamp/ncot/grpo.yaml
    reft-trl eval --model_name_or_path <checkpoint> --task svamp --mode greedy

Each command takes `--config recipe.yaml` plus command-line overrides. For several processes or GPUs, launch the same
module through accelerate: `accelerate launch --config_file recipes/accelerate/zero2.yaml -m reft_trl.cli ppo ...`.
"""

from __future__ import annotations

import sys
from importlib import import_module

COMMANDS = {
    "demo": ("reft_trl.scripts.demo", "ReFT end to end on the embedded model: SFT, PPO, evaluation, plots"),
    "sft": ("reft_trl.scripts.sft", "stage 1: SFT warm-up on (question, chain of thought)"),
    "ppo": ("reft_trl.scripts.ppo", "stage 2: ReFT PPO from the warm-up checkpoint"),
    "offline-st": (
        "reft_trl.scripts.offline_st",
        "baseline: SFT from the base model on gold + correct warm-up samples",
    ),
    "online-st": ("reft_trl.scripts.online_st", "baseline: ReFT's loop with cross-entropy on correct samples + gold"),
    "grpo": ("reft_trl.scripts.grpo", "TRL's GRPOTrainer with the ReFT reward (critic-free)"),
    "eval": ("reft_trl.scripts.evaluate", "greedy / voting / pass@k / rerank evaluation of a checkpoint"),
}


def usage() -> str:
    lines = ["usage: reft-trl <command> [--config recipe.yaml] [--option value ...]", "", "commands:"]
    lines += [f"  {name:<10} {description}" for name, (_, description) in COMMANDS.items()]
    lines += ["", "`reft-trl <command> --help` lists a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] not in COMMANDS:
        print(f"reft-trl: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    script = import_module(COMMANDS[argv[0]][0])
    parsed = script.make_parser().parse_args_and_config(args=argv[1:])
    script.main(*parsed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
