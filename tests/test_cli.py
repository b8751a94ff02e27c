from reft_trl import cli


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("demo", "sft", "ppo", "grpo", "eval"):
        assert f"  {command}" in out


def test_unknown_command_fails_with_usage(capsys):
    assert cli.main(["train"]) == 2
    assert "unknown command 'train'" in capsys.readouterr().err


def test_every_command_builds_its_parser():
    from importlib import import_module

    for module, _ in cli.COMMANDS.values():
        parser = import_module(module).make_parser()
        assert parser.format_help()
