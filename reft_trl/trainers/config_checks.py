"""Range checks of the configs' numeric fields, so a bad setting fails at construction and not as a NaN model.

>>> from types import SimpleNamespace
>>> check_field(SimpleNamespace(gamma=0.99), "gamma", minimum=0, maximum=1)
>>> check_field(SimpleNamespace(kl_coef=float("nan")), "kl_coef", minimum=0)
Traceback (most recent call last):
...
ValueError: kl_coef=nan: set kl_coef to a finite number >= 0.
"""

from __future__ import annotations

import math
from numbers import Integral, Real


def check_field(
    config,
    name: str,
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    optional: bool = False,
) -> None:
    """Raise a `ValueError` naming `name` and its value unless it is a finite number (a whole one with `integer`)
    with `minimum <= value`, `above < value` and `value <= maximum`; `optional` also accepts None."""
    value = getattr(config, name)
    if value is None and optional:
        return
    kind = Integral if integer else Real
    valid = (
        isinstance(value, kind)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (minimum is None or value >= minimum)
        and (above is None or value > above)
        and (maximum is None or value <= maximum)
    )
    if not valid:
        raise ValueError(f"{name}={value!r}: set {name} to {_expected(minimum, above, maximum, integer, optional)}.")


def _expected(minimum, above, maximum, integer, optional) -> str:
    text = "a whole number" if integer else "a finite number"
    if minimum is not None and maximum is not None:
        text += f" in [{minimum:g}, {maximum:g}]"
    elif minimum is not None:
        text += f" >= {minimum:g}"
    if above is not None:
        text += f" > {above:g}"
    return text + (" (or None)" if optional else "")


def check_generation_fields(config) -> None:
    """The numeric fields a `GRPOConfig`-based online stage (ReFT PPO, online self-training) samples and steps with."""
    check_field(config, "learning_rate", minimum=0)
    check_field(config, "max_grad_norm", minimum=0)
    check_field(config, "num_generations", minimum=1, integer=True)
    check_field(config, "num_iterations", minimum=1, integer=True)
    check_field(config, "temperature", above=0)
    check_field(config, "max_completion_length", minimum=1, integer=True, optional=True)
    check_field(config, "max_prompt_length", minimum=1, integer=True, optional=True)
