"""Mixed precision by default where the hardware computes bf16 natively: NVIDIA Ampere or newer, and CPUs with
AVX512-BF16 or AMX (x86) or the bf16 extension (Arm).

TRL's configs turn `bf16` on unless `fp16` is set; on a CPU without native bf16 that is an emulated, slower
precision. reft-trl's configs leave `bf16=None` ("decide for me") and resolve it here; an explicit `True` or `False`
is kept. Under bf16 autocast the weights, optimizer state, log-probabilities, ratios, KL, the value head and the
losses stay in float32.

>>> resolve_bf16(False, fp16=False, use_cpu=True)
False
"""

from __future__ import annotations

import functools

import torch


@functools.cache
def cpu_supports_bf16() -> bool:
    """Whether this CPU has native bf16 matrix instructions (oneDNN's check: AVX512-BF16, AMX, or Arm bf16)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def bf16_supported(use_cpu: bool = False) -> bool:
    """Whether training and generation on this machine's device should run in bf16 mixed precision."""
    if not use_cpu and torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return cpu_supports_bf16()


def resolve_bf16(bf16: bool | None, fp16: bool, use_cpu: bool) -> bool:
    """`bf16` when set; otherwise on where the device supports it natively and fp16 is not asked for."""
    if bf16 is not None:
        return bf16
    return not fp16 and bf16_supported(use_cpu)
