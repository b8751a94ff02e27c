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
import platform

import torch


@functools.cache
def cpu_supports_bf16() -> bool:
    """Whether this CPU has native bf16 matrix instructions: AVX512-BF16 or AMX on x86, the bf16 extension on Arm.

    (oneDNN's own check also says yes for plain AVX512, where bf16 is emulated and slower than fp32.)
    """
    if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
        try:
            return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        except AttributeError:
            return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def bf16_supported(use_cpu: bool = False) -> bool:
    """Whether training and generation on this machine's device should run in bf16 mixed precision."""
    if not use_cpu and torch.cuda.is_available():
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if not use_cpu and accelerator_available():
        return True  # XPU, NPU, HPU, XLA / TPU: bf16 is their native training precision
    return cpu_supports_bf16()


def accelerator_available() -> bool:
    """Whether there is a device other than the CPU (CUDA / ROCm, XPU, MPS, NPU, HPU, MLU, MUSA, XLA / TPU)."""
    from transformers.utils import import_utils

    if torch.cuda.is_available():
        return True
    for name in ("xpu", "mps", "npu", "hpu", "mlu", "musa", "xla"):
        check = getattr(import_utils, f"is_torch_{name}_available", None)
        try:
            if check is not None and check():
                return True
        except Exception:  # a probe that cannot run means the device is not usable here
            continue
    return False


def resolve_device_and_precision(config) -> None:
    """Set `config.use_cpu` on a machine without an accelerator (transformers would otherwise refuse bf16 there) and
    resolve `config.bf16` (None: native bf16 of the device decides). Call first in a config's `__post_init__`."""
    if not config.use_cpu and not accelerator_available():
        config.use_cpu = True
    config.bf16 = resolve_bf16(config.bf16, config.fp16, config.use_cpu)


def resolve_bf16(bf16: bool | None, fp16: bool, use_cpu: bool) -> bool:
    """`bf16` when set; otherwise on where the device supports it natively and fp16 is not asked for."""
    if bf16 is not None:
        return bf16
    return not fp16 and bf16_supported(use_cpu)


def generation_dtype(dtype: str | None, use_cpu: bool) -> str:
    """The weights' dtype for evaluation: `dtype` when given; otherwise `"bfloat16"` where the device computes it
    natively, else `"auto"` (the checkpoint's own dtype; float32 for the trainers' checkpoints).

    >>> generation_dtype("float32", use_cpu=True)
    'float32'
    """
    if dtype is not None:
        return dtype
    return "bfloat16" if bf16_supported(use_cpu) else "auto"
