"""`reft-trl grpo`'s config: it follows the hardware's precision as the other stages' configs do, and pickles."""

from __future__ import annotations

import pytest

import reft_trl.precision as precision
from reft_trl.scripts.grpo import make_parser


def parse(tmp_path, *extra):
    _, training_args, _ = make_parser().parse_args_into_dataclasses(
        ["--output_dir", str(tmp_path), "--task", "svamp", "--report_to", "none", *extra]
    )
    return training_args


@pytest.mark.parametrize("native", [False, True])
def test_unset_bf16_follows_the_processor(tmp_path, monkeypatch, native):
    monkeypatch.setattr(precision, "accelerator_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: native)
    args = parse(tmp_path)
    assert args.bf16 is native  # TRL's GRPOConfig alone would say True on any processor
    assert args.use_cpu is True  # no accelerator: the CPU without being told


def test_an_explicit_bf16_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "accelerator_available", lambda: False)
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    assert parse(tmp_path, "--bf16", "true").bf16 is True
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    assert parse(tmp_path, "--bf16", "false").bf16 is False


def test_the_config_pickles_as_checkpoints_save_it(tmp_path):
    import pickle

    args = parse(tmp_path)
    assert pickle.loads(pickle.dumps(args)).bf16 == args.bf16  # transformers writes it to `training_args.bin`
