"""Every argument and config dataclass of the scripts, trainers and evaluation documents each field it declares, with
the field's types, its default and a `help` text."""

from __future__ import annotations

import dataclasses

import pytest

from tests.utils import argument_dataclasses, docstring_mismatches

CLASSES = argument_dataclasses()


def test_every_argument_class_is_found():
    expected = {
        "DataArguments",
        "DemoArguments",
        "EvalArguments",
        "GRPOTaskArguments",
        "OfflineSelfTrainingArguments",
        "OnlineSelfTrainingConfig",
        "ReFTPPOConfig",
        "ReFTSFTConfig",
        "VerifierConfig",
    }
    assert expected <= {cls.__qualname__ for cls in CLASSES}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__qualname__)
def test_docstring_matches_the_fields(cls):
    assert docstring_mismatches(cls) == []


def test_types_are_compared_with_the_annotations():
    @dataclasses.dataclass
    class Toy:
        """
        alpha (`int`, *optional*, defaults to `None`):
            Documented without its `None`.
        beta (`str` or `None`, *optional*, defaults to `"b"`):
            Documented with a `None` it cannot hold.
        gamma (`dict[str, int]` or `None`, *optional*, defaults to `None`):
            Documented right.
        delta (*optional*, defaults to `1`):
            Documented without a type.
        """

        alpha: int | None = dataclasses.field(default=None, metadata={"help": "Alpha."})
        beta: str = dataclasses.field(default="b", metadata={"help": "Beta."})
        gamma: dict[str, int] | None = dataclasses.field(default=None, metadata={"help": "Gamma."})
        delta: int = dataclasses.field(default=1, metadata={"help": "Delta."})

    assert docstring_mismatches(Toy) == [
        "alpha: docstring type int != annotation None | int",
        "beta: docstring type None or str != annotation str",
        "delta: docstring type missing != annotation int",
    ]
