"""Checks of the configs' fields, so a bad setting fails at construction and not as a NaN model or an option that
silently does nothing: numeric ranges, and GRPO options that a trainer replacing GRPO's loss would ignore.

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

from trl import GRPOConfig


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


ROUTER_AUX_LOSS = "router_aux_loss_coef"
ROUTER_AUX_LOSS_REASON = "the loss adds no Mixture-of-Experts load-balancing loss; 0.0 (off) is accepted"

EQUIVALENT_TO_DEFAULT = {"scale_rewards": (True,), ROUTER_AUX_LOSS: (0.0,)}
"""Values accepted beside TRL's default: `True` is TRL's spelling of `"group"`; a zero auxiliary-loss weight is what
a trainer without that loss does."""


def refuse_ignored_grpo_options(config: GRPOConfig, ignored: dict[str, str]) -> None:
    """Raise a `ValueError` naming each option of `ignored` (`name -> why it is not used`) set away from TRL's
    default, which the config's trainer would otherwise silently ignore."""
    defaults = GRPOConfig.__dataclass_fields__

    def accepted(name: str, value) -> bool:
        return any(value == ok for ok in (defaults[name].default, *EQUIVALENT_TO_DEFAULT.get(name, ())))

    changed = [name for name in ignored if not accepted(name, getattr(config, name))]
    if changed:
        reasons = "; ".join(f"{name}={getattr(config, name)!r} ({ignored[name]})" for name in changed)
        raise ValueError(
            f"{type(config).__name__} does not use these GRPOConfig options: {reasons}. Leave them at TRL's default."
        )


def refuse_router_aux_loss(trainer) -> None:
    """Refuse a Mixture-of-Experts model for which TRL's GRPO set up its load-balancing loss (`aux_loss_enabled`, from
    `router_aux_loss_coef` or, left at None, the model config's coefficient): `trainer` replaces GRPO's loss and
    would drop it."""
    if getattr(trainer, "aux_loss_enabled", False):
        raise ValueError(
            f"{type(trainer.accelerator.unwrap_model(trainer.model)).__name__} is a Mixture-of-Experts model whose "
            f"load-balancing loss TRL adds to GRPO's loss ({ROUTER_AUX_LOSS}={trainer.router_aux_loss_coef}); "
            f"{type(trainer).__name__}'s loss does not add it. Set {ROUTER_AUX_LOSS}=0.0 in "
            f"{type(trainer.args).__name__} to train without it."
        )
