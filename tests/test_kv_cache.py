"""`InPlaceLayer` holds what transformers' `DynamicLayer` holds after every operation, without reallocating at a decode
step that fits; `in_place_cache_for` leaves other layer kinds to transformers."""

from __future__ import annotations

import doctest

import pytest
import torch
from transformers import Gemma2Config
from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

from reft_trl import kv_cache
from reft_trl.kv_cache import InPlaceLayer, in_place_cache_for

HEADS, HEAD_DIM, HEADROOM = 2, 4, 4


def states(rows, positions, seed):
    generator = torch.Generator().manual_seed(seed)
    shape = (rows, HEADS, positions, HEAD_DIM)
    return torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)


def assert_same(layer, reference, returned=None):
    assert torch.equal(layer.keys, reference.keys) and torch.equal(layer.values, reference.values)
    assert layer.get_seq_length() == reference.get_seq_length()
    if returned is not None:
        assert torch.equal(returned[0], reference.keys) and torch.equal(returned[1], reference.values)


def test_doctests_pass():
    results = doctest.testmod(kv_cache)
    assert results.attempted > 0 and results.failed == 0


def test_holds_what_a_dynamic_layer_holds_through_prefill_repeat_steps_select_and_crop():
    layer, reference = InPlaceLayer(HEADROOM), DynamicLayer()
    prompt = states(rows=3, positions=5, seed=0)
    returned = layer.update(*prompt)
    reference.update(*prompt)
    assert_same(layer, reference, returned)
    layer.batch_repeat_interleave(2)
    reference.batch_repeat_interleave(2)
    assert_same(layer, reference)
    buffer = layer._key_buffer.data_ptr()
    for step in range(3):
        step_states = states(rows=6, positions=1, seed=step + 1)
        returned = layer.update(*step_states)
        reference.update(*step_states)
        assert_same(layer, reference, returned)
    assert layer._key_buffer.data_ptr() == buffer  # decode steps wrote in place
    kept = torch.tensor([0, 2, 5])
    layer.batch_select_indices(kept)
    reference.batch_select_indices(kept)
    assert_same(layer, reference)
    step_states = states(rows=3, positions=1, seed=9)
    returned = layer.update(*step_states)
    reference.update(*step_states)
    assert_same(layer, reference, returned)
    layer.crop(-2)
    reference.crop(-2)
    assert_same(layer, reference)
    step_states = states(rows=3, positions=1, seed=10)  # the next step overwrites the cropped positions
    layer.update(*step_states)
    reference.update(*step_states)
    assert_same(layer, reference)


def test_grows_by_doubling_and_reorders_as_a_dynamic_layer():
    layer, reference = InPlaceLayer(headroom=2), DynamicLayer()
    for step, positions in enumerate([3, 1, 1, 1, 4]):  # 3 + 2 of headroom, then 10, then 20 positions
        step_states = states(rows=2, positions=positions, seed=step)
        returned = layer.update(*step_states)
        reference.update(*step_states)
        assert_same(layer, reference, returned)
    assert layer._key_buffer.shape[-2] == 10 and layer.get_seq_length() == 10
    order = torch.tensor([1, 0])
    layer.reorder_cache(order)
    reference.reorder_cache(order)
    assert_same(layer, reference)
    layer.update(*states(rows=2, positions=1, seed=9))
    assert layer._key_buffer.shape[-2] == 20


def test_refuses_what_it_cannot_do_and_restarts_after_a_reset():
    layer = InPlaceLayer(HEADROOM)
    layer.update(*states(rows=2, positions=3, seed=0))
    with pytest.raises(ValueError, match="holds 2 rows; the update has 3"):
        layer.update(*states(rows=3, positions=1, seed=1))
    with pytest.raises(NotImplementedError, match="does not offload"):
        layer.offload()
    layer.reset()
    assert layer.get_seq_length() == 0 and layer._key_buffer is None
    fresh = states(rows=4, positions=3, seed=2)
    layer.update(*fresh)
    assert torch.equal(layer.keys, fresh[0]) and layer._key_buffer.shape == (4, HEADS, 3 + HEADROOM, HEAD_DIM)


def test_only_full_attention_layers_are_replaced():
    config = Gemma2Config(
        hidden_size=16, intermediate_size=32, num_hidden_layers=4, num_attention_heads=2, num_key_value_heads=1,
        head_dim=8, vocab_size=64, sliding_window=4,
    )  # fmt: skip
    layers = in_place_cache_for(config, headroom=HEADROOM).layers
    kinds = [type(layer) for layer in layers]
    assert kinds.count(InPlaceLayer) == 2 and kinds.count(DynamicSlidingWindowLayer) == 2, kinds
    assert all(layer.headroom == HEADROOM for layer in layers if isinstance(layer, InPlaceLayer))
