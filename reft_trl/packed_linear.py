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
"""

from __future__ import annotations

import contextlib

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
def packed_linears(model, rows: int = 8):
    """Within the context, every `torch.nn.Linear` of `model` computes bf16 products without autograd from its weight
    packed once for oneDNN; on leaving, the layers' own forwards are back. The weights are packed on entry: enter
    again after they change (a rollout's context spans one call of `generate`). `rows`: the number of rows a call
    multiplies (oneDNN's hint for the layout). On a machine where `can_pack` is False, the context changes nothing.

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
    try:
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.Linear) and "forward" not in vars(module):
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
        autocast = torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        if x.dtype != torch.bfloat16 and not (autocast and x.dtype == torch.float32):
            return own(x)
        if layer.weight.dtype != torch.bfloat16 and not autocast:
            return own(x)
        x = x.to(torch.bfloat16)
        shape = x.shape
        out = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, shape[-1]).contiguous(), packed, bias, "none", [], "")
        return out.reshape(*shape[:-1], out.shape[-1])

    return forward
