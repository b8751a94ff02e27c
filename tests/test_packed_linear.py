"""`packed_linears` computes what the layers' own forwards compute, only where it may (bf16, no autograd), and leaves
the model as it found it."""

from __future__ import annotations

import doctest

import pytest
import torch

from reft_trl import packed_linear
from reft_trl.packed_linear import can_pack, packed_linears
from tests.utils import PackingCount, can_pack_here, linear_layers, tiny_llama

VOCAB = 97
needs_packing = pytest.mark.skipif(not can_pack_here(), reason="needs a CPU with native bf16 and oneDNN's packing ops")


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
    """Packed under autocast, a layer still runs its own forward for a call with autograd (the update's forward)
    and for a float32 call once autocast is off."""
    layer = torch.nn.Linear(8, 4)
    x = torch.randn(2, 8)
    calls = []
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", lambda *a: calls.append(a))
    with torch.autocast("cpu", dtype=torch.bfloat16), packed_linears(layer, rows=2):
        assert "forward" in vars(layer)
        trained = layer(x)  # grad enabled
        assert trained.requires_grad and trained.dtype == torch.bfloat16
        trained.float().sum().backward()
        with torch.autocast("cpu", enabled=False), torch.no_grad():
            out = layer(x)  # float32 without autocast
            assert torch.equal(out, torch.nn.functional.linear(x, layer.weight, layer.bias))
    assert layer.weight.grad is not None and not calls


@needs_packing
def test_only_plain_layers_computing_in_bf16_at_entry_are_packed(monkeypatch):
    """A float32 model outside autocast costs nothing (no packing); under autocast, or with bf16 weights, each layer is
    packed once on entry, however many calls follow; skipped submodules and layers of other classes are left alone."""
    count = PackingCount(monkeypatch)
    model = tiny_llama(VOCAB, tie_word_embeddings=False).eval()
    ids = inputs()
    with torch.no_grad():
        with packed_linears(model):
            assert not any("forward" in vars(m) for m in model.modules())
            model(ids)
        assert count.packings == count.products == 0
        with torch.autocast("cpu", dtype=torch.bfloat16), packed_linears(model):
            model(ids)
            model(ids)
        assert count.packings == linear_layers(model)
        assert count.products == 2 * linear_layers(model)

        class OwnLinear(torch.nn.Linear):  # a quantized layer, say: its own forward reads its weight its own way
            def forward(self, x):
                return super().forward(x)

        model.lm_head = OwnLinear(16, VOCAB).to(torch.bfloat16)
        model.to(torch.bfloat16)
        with packed_linears(model, skip=[model.model.layers[0]]):
            patched = {name for name, m in model.named_modules() if "forward" in vars(m)}
    assert patched and all(name.startswith("model.layers.1.") for name in patched)
    assert len(patched) == linear_layers(model.model.layers[1])


@needs_packing
def test_leaves_the_model_as_it_was_even_after_an_error():
    model = tiny_llama(VOCAB).to(torch.bfloat16).eval()
    with pytest.raises(RuntimeError, match="inside"), packed_linears(model):
        assert all("forward" in vars(m) for m in model.modules() if isinstance(m, torch.nn.Linear))
        raise RuntimeError("inside")
    assert not any("forward" in vars(m) for m in model.modules())


def test_changes_nothing_without_native_bf16(monkeypatch):
    monkeypatch.setattr(packed_linear, "cpu_supports_bf16", lambda: False)
    model = tiny_llama(VOCAB).to(torch.bfloat16).eval()
    assert not can_pack(model)
    with packed_linears(model):
        assert not any("forward" in vars(m) for m in model.modules())
