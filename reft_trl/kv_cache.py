"""A key/value cache for reft-trl's own decoding loop (`reft_trl.generation.generate_shrinking`) that is written in
place instead of grown by concatenation.

transformers' `DynamicLayer.update` appends a step's keys and values with `torch.cat`: every decode step copies each
layer's whole cache to add one position. `InPlaceLayer` allocates buffers for the prompt plus the whole completion
budget at the prompt's forward and writes each later position into them; its `keys` / `values` are views of the filled
part, so attention, `get_seq_length` and the masks see exactly what a `DynamicLayer` would hold.

>>> from transformers import LlamaConfig
>>> config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
...                      num_key_value_heads=2, vocab_size=100)
>>> cache = preallocated_cache_for(config, capacity=16)
>>> [type(layer).__name__ for layer in cache.layers]
['InPlaceLayer', 'InPlaceLayer']
"""

from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


class InPlaceLayer(DynamicLayer):
    """A `DynamicLayer` of at most `capacity` positions whose decode steps write in place (no copy of the cache).

    The first `update` (the prompt) allocates the buffers; selecting or repeating rows (`batch_select_indices`,
    `batch_repeat_interleave`) copies only the filled positions into new buffers.
    """

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        if self.length == 0:
            self._key_buffer, self._value_buffer = self._empty(key_states), self._empty(value_states)
        end = self.length + key_states.shape[-2]
        if end > self.capacity:
            raise ValueError(f"This cache layer holds {self.capacity} positions; the update would fill {end}.")
        self._key_buffer[:, :, self.length : end] = key_states
        self._value_buffer[:, :, self.length : end] = value_states
        self._set_length(end)
        return self.keys, self.values

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.length > 0:
            self._refill(self.keys.repeat_interleave(repeats, dim=0), self.values.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.length > 0:
            indices = indices.to(self.keys.device)
            self._refill(self.keys.index_select(0, indices), self.values.index_select(0, indices))

    def crop(self, tokens_to_remove: int) -> None:
        super().crop(tokens_to_remove)  # leaves views of the first positions
        if self.length > 0:
            self._set_length(self.keys.shape[-2])

    def reset(self) -> None:
        self.length = 0
        super().reset()

    def _empty(self, states: torch.Tensor) -> torch.Tensor:
        return states.new_empty((states.shape[0], states.shape[1], self.capacity, states.shape[-1]))

    def _refill(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """New buffers holding `keys` / `values` (the filled positions of the kept rows)."""
        self._key_buffer, self._value_buffer = self._empty(keys), self._empty(values)
        self._key_buffer[:, :, : self.length] = keys
        self._value_buffer[:, :, : self.length] = values
        self._set_length(self.length)

    def _set_length(self, length: int) -> None:
        self.length = length
        self.keys = self._key_buffer[:, :, :length]
        self.values = self._value_buffer[:, :, :length]


def preallocated_cache_for(config, capacity: int) -> DynamicCache:
    """transformers' `DynamicCache` for a model `config`, with each full-attention layer an `InPlaceLayer` of
    `capacity` positions (prompt plus completion budget); other layer kinds (sliding windows, linear attention) are
    transformers' own."""
    cache = DynamicCache(config=config)
    cache.layers = [InPlaceLayer(capacity) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache
