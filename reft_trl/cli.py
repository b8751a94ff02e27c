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

import argparse
import sys
from importlib import import_module

DISTRIBUTION = "reft-trl"
"""The distribution name in setup.cfg, under which package metadata holds the version."""

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

REFT_SECTIONS = {
    "DemoArguments": "ReFT demo options",
    "ReFTSFTConfig": "ReFT SFT options (ReFTSFTConfig)",
    "ReFTPPOConfig": "ReFT PPO options (ReFTPPOConfig)",
    "OfflineSelfTrainingArguments": "ReFT offline self-training options",
    "OnlineSelfTrainingConfig": "ReFT online self-training options (OnlineSelfTrainingConfig)",
    "GRPOTaskArguments": "ReFT GRPO options",
    "EvalArguments": "ReFT evaluation options",
    "DataArguments": "Data (DataArguments)",
}
"""Help sections of the options our own dataclasses declare, including the TRL / transformers options whose
defaults they reset to the paper's."""

# Help sections in order: our own options, the data, the model, then TRL's and transformers' own
_REFT, _DATA, _MODEL, _TRL, _TRANSFORMERS, _OTHER = range(6)

USAGE = "%(prog)s [-h] [--config recipe.yaml] [--option value ...]"


def version() -> str:
    """The installed version, from package metadata (the package's `__version__` when run from a bare source tree)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    try:
        return installed_version(DISTRIBUTION)
    except PackageNotFoundError:
        from reft_trl import __version__

        return __version__


def usage() -> str:
    lines = ["usage: reft-trl [--version] <command> [--config recipe.yaml] [--option value ...]", "", "commands:"]
    lines += [f"  {name:<10} {description}" for name, (_, description) in COMMANDS.items()]
    lines += ["", "`reft-trl <command> --help` lists a command's options."]
    return "\n".join(lines)


def command_parser(command: str):
    """The command's `TrlParser`, named `reft-trl <command>`, its help in sections with our own options first."""
    parser = import_module(COMMANDS[command][0]).make_parser()
    parser.prog = f"reft-trl {command}"
    parser.usage = USAGE
    parser.description = (
        f"{COMMANDS[command][1]}. `--config recipe.yaml` sets options from a YAML file; options given on the command "
        "line override it."
    )
    section_options(parser)
    return parser


def section_options(parser: argparse.ArgumentParser) -> None:
    """Regroup an `HfArgumentParser`'s options into titled help sections: the options our dataclasses declare, the
    data, the model, then TRL's and transformers' options. Only the help changes; parsing is untouched."""
    placement = {}
    for index, dataclass_type in enumerate(parser.dataclass_types):
        for field_name, (rank, title, order) in _field_sections(dataclass_type).items():
            placement.setdefault(field_name, (rank, index, title, order))
    moved = []
    for action in parser._actions:
        if action.dest in placement and action.option_strings:
            moved.append((placement[action.dest], len(moved), action))
    moved_actions = {id(action) for _, _, action in moved}
    for group in parser._action_groups:  # a section left empty is not printed
        group._group_actions[:] = [action for action in group._group_actions if id(action) not in moved_actions]
    sections = {}
    for (_rank, _index, title, _order), _position, action in sorted(moved, key=lambda item: item[:2]):
        if title not in sections:
            sections[title] = parser.add_argument_group(title)
        sections[title]._group_actions.append(action)


def _field_sections(dataclass_type) -> dict[str, tuple[int, str, tuple[int, int]]]:
    """Each field's (rank, section title, order), from the class in the MRO that declares it last."""
    import dataclasses

    mro = dataclass_type.__mro__
    trl_name = next((cls.__name__ for cls in mro if cls.__module__.startswith("trl.")), "")
    sections = {}
    for field in dataclasses.fields(dataclass_type):
        declaring = [
            (depth, cls, list(cls.__dict__.get("__annotations__", {})))
            for depth, cls in enumerate(mro)
            if field.name in cls.__dict__.get("__annotations__", {})
        ]
        if not declaring:
            continue
        depth, cls, declared = declaring[0]
        package, name = cls.__module__.split(".")[0], cls.__name__
        if package == "reft_trl":
            rank = _DATA if name == "DataArguments" else _REFT
            title = REFT_SECTIONS.get(name, f"ReFT options ({name})")
        elif package == "trl" and name == "ModelConfig":
            rank, title = _MODEL, "Model (TRL ModelConfig)"
        elif package == "trl":
            rank, title = _TRL, f"TRL {trl_name} options"
        elif package == "transformers":
            rank, title = _TRANSFORMERS, f"transformers {name} options"
        else:
            rank, title = _OTHER, f"{name} options"
        sections[field.name] = (rank, title, (depth, declared.index(field.name)))
    return sections


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"reft-trl {version()}")
        return 0
    if argv[0] not in COMMANDS:
        print(f"reft-trl: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    parsed = command_parser(argv[0]).parse_args_and_config(args=argv[1:])
    import_module(COMMANDS[argv[0]][0]).main(*parsed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
