import dataclasses
import re
from importlib import import_module
from importlib.metadata import version

import pytest

import reft_trl
from reft_trl import cli

TITLE = re.compile(r"^(\S.*):$", re.MULTILINE)


def command_help(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("demo", "sft", "ppo", "grpo", "eval"):
        assert f"  {command}" in out


def test_unknown_command_fails_with_usage(capsys):
    assert cli.main(["train"]) == 2
    assert "unknown command 'train'" in capsys.readouterr().err


def test_every_command_builds_its_parser():
    for module, _ in cli.COMMANDS.values():
        parser = import_module(module).make_parser()
        assert parser.format_help()


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_comes_from_the_package_metadata(flag, capsys):
    assert cli.main([flag]) == 0
    assert capsys.readouterr().out.strip() == f"reft-trl {version('reft-trl')}"
    assert version("reft-trl") == reft_trl.__version__


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_usage_names_the_command(command, capsys):
    out = command_help(command, capsys)
    assert out.startswith(f"usage: reft-trl {command} [-h] [--config recipe.yaml] [--option value ...]\n")


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_our_own_options_come_first(command, capsys):
    out = command_help(command, capsys)
    titles = TITLE.findall(out)
    assert titles[0] == "options" and titles[1].startswith("ReFT "), titles
    after_help = out[out.index("  -h, --help") :].splitlines()[1:]
    first_option = next(line.split()[0] for line in after_help if line.startswith("  --"))
    parser = cli.command_parser(command)
    reft_section = next(group for group in parser._action_groups if group.title == titles[1])
    assert first_option in reft_section._group_actions[0].option_strings


def test_ppo_help_lists_reft_then_data_then_model_then_trl_then_transformers(capsys):
    out = command_help("ppo", capsys)
    assert TITLE.findall(out) == [
        "options",
        "ReFT PPO options (ReFTPPOConfig)",
        "Data (DataArguments)",
        "Model (TRL ModelConfig)",
        "TRL GRPOConfig options",
        "transformers TrainingArguments options",
    ]
    first = [line.split()[0] for line in out.splitlines() if line.startswith("  -")][:3]
    assert first == ["-h,", "--task", "--cot"]
    reft = out[out.index("ReFT PPO options") : out.index("Data (DataArguments)")]
    # ReFT's own options, and the TRL / transformers options whose defaults ReFT resets to the paper's
    for option in ("--kl_coef", "--vf_coef", "--critic_learning_rate", "--learning_rate", "--num_generations"):
        assert f"\n  {option} " in reft
    assert "\n  --vllm_mode " in out[out.index("TRL GRPOConfig options") :]
    assert "\n  --weight_decay " in out[out.index("transformers TrainingArguments") :]


def test_offline_self_training_help_keeps_both_reft_sections_first(capsys):
    titles = TITLE.findall(command_help("offline-st", capsys))
    assert titles[1:4] == [
        "ReFT offline self-training options",
        "ReFT SFT options (ReFTSFTConfig)",
        "Data (DataArguments)",
    ]


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_sections_only_reorder_the_help(command):
    plain = import_module(cli.COMMANDS[command][0]).make_parser()
    sectioned = cli.command_parser(command)

    def options(parser):
        return sorted(
            option for group in parser._action_groups for a in group._group_actions for option in a.option_strings
        )

    assert options(sectioned) == options(plain)
    assert [action.dest for action in sectioned._actions] == [action.dest for action in plain._actions]


def test_a_sectioned_parser_parses_as_before():
    argv = [
        "--task",
        "svamp",
        "--kl_coef",
        "0.1",
        "--learning_rate",
        "1e-6",
        "--train_limit",
        "8",
        "--use_cpu",
        "true",
    ]
    argv += ["--model_name_or_path", "some/model", "--output_dir", "out"]
    plain = import_module("reft_trl.scripts.ppo").make_parser().parse_args_and_config(args=argv)
    sectioned = cli.command_parser("ppo").parse_args_and_config(args=argv)
    assert [field_values(parsed) for parsed in sectioned] == [field_values(parsed) for parsed in plain]
    script_args, training_args, model_args = sectioned
    assert (training_args.task, training_args.kl_coef, training_args.learning_rate) == ("svamp", 0.1, 1e-6)
    assert (script_args.train_limit, model_args.model_name_or_path) == (8, "some/model")


def field_values(parsed) -> dict:
    return {field.name: getattr(parsed, field.name) for field in dataclasses.fields(parsed)}


def test_a_bad_option_is_named_by_the_command(capsys):
    with pytest.raises(SystemExit):
        cli.command_parser("eval").parse_args_and_config(args=["--mode", "beam"])
    assert capsys.readouterr().err.startswith("usage: reft-trl eval [-h]")


def test_the_module_answers_version_in_a_fresh_process():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "reft_trl.cli", "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout == f"reft-trl {version('reft-trl')}\n"
