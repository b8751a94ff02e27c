"""TRL's `GRPOConfig` with reft-trl's device and precision defaults, for `reft-trl grpo`.

TRL turns `bf16` on whenever `fp16` is off, which on a CPU without native bf16 is an emulated, slower precision; here an
unset `bf16` follows the hardware (`reft_trl.precision`), as the other stages' configs do, and a machine without an
accelerator trains on the CPU without `--use_cpu`. An explicit `--bf16` is kept. Defined at module level so that the
checkpoints' `training_args.bin` can be pickled.
"""

from __future__ import annotations

from dataclasses import dataclass

from trl import GRPOConfig

from reft_trl.precision import resolve_device_and_precision


@dataclass
class GRPOStageConfig(GRPOConfig):
    __doc__ = GRPOConfig.__doc__

    def __post_init__(self):
        resolve_device_and_precision(self)
        super().__post_init__()
