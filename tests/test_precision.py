"""bf16 by default only where the device computes it natively."""

from __future__ import annotations

import reft_trl.precision as precision


def test_explicit_choice_is_kept(monkeypatch):
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    assert precision.resolve_bf16(False, fp16=False, use_cpu=True) is False
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    assert precision.resolve_bf16(True, fp16=False, use_cpu=True) is True


def test_default_follows_the_cpu(monkeypatch):
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    assert precision.resolve_bf16(None, fp16=False, use_cpu=True) is True
    assert precision.resolve_bf16(None, fp16=True, use_cpu=True) is False  # fp16 asked for
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    assert precision.resolve_bf16(None, fp16=False, use_cpu=True) is False


def test_cpu_check_answers_a_bool():
    assert isinstance(precision.cpu_supports_bf16(), bool)


def test_evaluation_dtype_follows_the_device_unless_given(monkeypatch):
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    assert precision.generation_dtype(None, use_cpu=True) == "bfloat16"
    assert precision.generation_dtype("float32", use_cpu=True) == "float32"
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    assert precision.generation_dtype(None, use_cpu=True) == "auto"  # the checkpoint's own
