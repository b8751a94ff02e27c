"""Linear layers that decode from weights packed once for oneDNN's CPU matrix kernels (`packed_linears`).

A decode step multiplies a few rows by every weight matrix of the model. Called with a plain (row-major) bf16 weight,
oneDNN first reorders it into its blocked layout, on every call: the weight is read, written and read again for a
handful of rows. `torch.ops.mkldnn._reorder_linear_weight` makes that layout once and `torch.ops.mkldnn.
_linear_pointwise` multiplies by it (the same pair inductor uses when it freezes a CPU model), so a decode step reads
each weight once. The products are oneDNN's bf16 products either way (`tests/test_packed_linear.py` checks greedy
tokens against the unpacked model).

Only bf16 computation without autograd is packed (inference and rollouts; an update needs the weights' gradients):
a `torch.nn.Linear` with a bf16 weight, or with a float32 weight under bf16 autocast (whose cast autocast would
otherwise make at every call of a float32 weight that does not require grad). Anything else runs the layer's own forward.
Evaluation and sampling (`reft_trl.generation.generate` and `reft_trl.evaluation.evaluate`, `pack_weights`) and PPO's
rollouts (`ReFTPPOConfig.rollout_pack_weights`) pack by default.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch

from .precision import cpu_supports_bf16


def can_pack(model) -> bool:
    """Whether `packed_linears` packs anything for `model`: on a CPU with native bf16, with oneDNN's ops present."""
    try:
        device = next(model.parameters()).device
    except StopIteration:
        return False
    return (
        device.type == "cpu"
        and cpu_supports_bf16()
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
    )


@contextlib.contextmanager
def packed_linears(model, rows: int = 8, skip: Sequence[torch.nn.Module] = ()):
    """Within the context, every `torch.nn.Linear` of `model` computes bf16 products without autograd from its weight
    packed once for oneDNN; on leaving, the layers' own forwards are back. The weights are packed on entry: enter
    again after they change (a rollout's context spans one call of `generate`). Only layers whose products are bf16 at
    entry are packed (a bf16 weight, or bf16 autocast already on): a float32 model outside autocast is left as it is,
    at no cost. Layers of other classes (quantized ones, say) and layers whose forward someone has already replaced
    are left as they are. While packed, a bf16 weight is held twice (a float32 one under autocast: once in bf16, as
    autocast's own cast would). `rows`: the number of rows a call multiplies (oneDNN's hint for the layout). `skip`:
    submodules left as they are (a critic attached to the policy, which decoding never calls). On a machine where
    `can_pack` is False, the context changes nothing.

    >>> import torch
    >>> layer = torch.nn.Linear(4, 3).to(torch.bfloat16)
    >>> x = torch.ones(2, 4, dtype=torch.bfloat16)
    >>> with torch.no_grad(), packed_linears(layer, rows=2):
    ...     bool(torch.equal(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias)))
    True
    """
    if not can_pack(model):
        yield model
        return
    patched = []
    autocast = _bf16_autocast()
    skipped = {id(inner) for outer in skip for inner in outer.modules()}
    try:
        with torch.no_grad():
            for module in model.modules():
                if id(module) not in skipped and _packable(module, autocast):
                    module.forward = _packed_forward(module, rows)
                    patched.append(module)
        yield model
    finally:
        for module in patched:
            del module.forward


def _packed_forward(layer: torch.nn.Linear, rows: int):
    weight = layer.weight.detach().to(torch.bfloat16)
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, rows)
    bias = None if layer.bias is None else layer.bias.detach().to(torch.bfloat16)
    own = type(layer).forward.__get__(layer)

    def forward(x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and (x.requires_grad or layer.weight.requires_grad):
            return own(x)
        autocast = _bf16_autocast()
        if x.dtype != torch.bfloat16 and not (autocast and x.dtype == torch.float32):
            return own(x)
        if layer.weight.dtype != torch.bfloat16 and not autocast:
            return own(x)
        return packed_product(x.to(torch.bfloat16), packed, bias)

    return forward


def packed_product(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """`x @ W.T + bias` from `packed = torch.ops.mkldnn._reorder_linear_weight(W, rows)`, for `x` of any leading
    shape in W's dtype."""
    shape = x.shape
    out = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, shape[-1]).contiguous(), packed, bias, "none", [], "")
    return out.reshape(*shape[:-1], out.shape[-1])


def _packable(module: torch.nn.Module, autocast: bool) -> bool:
    """A plain `torch.nn.Linear` (its own class's forward, not yet replaced) whose products are bf16 now."""
    return (
        type(module).forward is torch.nn.Linear.forward
        and isinstance(module, torch.nn.Linear)
        and "forward" not in vars(module)
        and (module.weight.dtype == torch.bfloat16 or (autocast and module.weight.dtype == torch.float32))
    )


def _bf16_autocast() -> bool:
    """Whether CPU autocast to bf16 is on."""
    return torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
