"""`packed_linears` computes what the layers' own forwards compute, only where it may (bf16, no autograd), and leaves
the model as it found it."""

from __future__ import annotations

import doctest

import pytest
import torch

from reft_trl import packed_linear
from reft_trl.packed_linear import can_pack, packed_linears
from tests.utils import tiny_llama

VOCAB = 97
needs_packing = pytest.mark.skipif(
    not can_pack(torch.nn.Linear(2, 2)), reason="needs a CPU with native bf16 and oneDNN's packing ops"
)


def inputs(rows=3, positions=7, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (rows, positions), generator=generator)


def greedy(model, input_ids):
    return model.generate(
        input_ids=input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=12, do_sample=False,
        pad_token_id=0,
    )  # fmt: skip


@needs_packing
def test_doctests_pass():
    results = doctest.testmod(packed_linear)
    assert results.attempted > 0 and results.failed == 0


@needs_packing
def test_bf16_model_gives_the_same_logits_and_greedy_tokens_packed():
    model = tiny_llama(VOCAB, tie_word_embeddings=False).to(torch.bfloat16).eval()
    ids = inputs()
    with torch.no_grad():
        logits, tokens = model(ids).logits, greedy(model, ids)
        with packed_linears(model, rows=3):
            assert all("forward" in vars(m) for m in model.modules() if isinstance(m, torch.nn.Linear))
            packed_logits, packed_tokens = model(ids).logits, greedy(model, ids)
    assert torch.equal(packed_logits, logits)
    assert torch.equal(packed_tokens, tokens)
    assert tokens.shape[1] > ids.shape[1]


@needs_packing
def test_float32_weights_under_autocast_give_autocasts_products():
    model = tiny_llama(VOCAB, tie_word_embeddings=False).eval()
    ids = inputs(seed=1)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits, tokens = model(ids).logits, greedy(model, ids)
        with packed_linears(model, rows=3):
            packed_logits, packed_tokens = model(ids).logits, greedy(model, ids)
    assert packed_logits.dtype == logits.dtype == torch.bfloat16
    assert torch.equal(packed_logits, logits)
    assert torch.equal(packed_tokens, tokens)


@needs_packing
def test_float32_computation_and_autograd_run_the_layers_own_forward(monkeypatch):
    layer = torch.nn.Linear(8, 4)
    x = torch.randn(2, 8)
    calls = []
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", lambda *a: calls.append(a))
    with packed_linears(layer, rows=2):
        out = layer(x)  # float32 without autocast
        assert torch.equal(out, torch.nn.functional.linear(x, layer.weight, layer.bias))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            trained = layer(x)  # grad enabled: the update's forward
        assert trained.requires_grad
        trained.float().sum().backward()
    assert layer.weight.grad is not None and not calls


def test_leaves_the_model_as_it_was_even_after_an_error():
    model = tiny_llama(VOCAB).eval()
    with pytest.raises(RuntimeError, match="inside"), packed_linears(model):
        raise RuntimeError("inside")
    assert not any("forward" in vars(m) for m in model.modules())


def test_changes_nothing_without_native_bf16(monkeypatch):
    monkeypatch.setattr(packed_linear, "cpu_supports_bf16", lambda: False)
    model = tiny_llama(VOCAB).eval()
    assert not can_pack(model)
    with packed_linears(model):
        assert not any("forward" in vars(m) for m in model.modules())
