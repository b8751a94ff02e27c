"""A key/value cache for reft-trl's own decoding loop (`reft_trl.generation.generate_shrinking`) that grows in place
instead of by concatenation.

transformers' `DynamicLayer.update` appends a step's keys and values with `torch.cat`: every decode step copies each
layer's whole cache to add one position. `InPlaceLayer` keeps them in buffers with room to spare and writes each new
position into them, doubling a buffer when it is full (a copy every so often, not at every step); its `keys` /
`values` are views of the filled part, so attention, `get_seq_length` and the masks see exactly what a `DynamicLayer`
would hold.

>>> from transformers import LlamaConfig
>>> config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
...                      num_key_value_heads=2, vocab_size=100)
>>> [type(layer).__name__ for layer in in_place_cache_for(config).layers]
['InPlaceLayer', 'InPlaceLayer']
"""

from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


class InPlaceLayer(DynamicLayer):
    """A `DynamicLayer` whose decode steps write into spare room instead of copying the cache.

    The first `update` (the prompt) allocates buffers of its length plus `headroom` positions; a later update that does
    not fit doubles them. Selecting, repeating or reordering rows copies the filled positions of the kept rows into
    new buffers. Views returned by an earlier `update` stay valid while positions are only appended; after `crop`, the
    next update writes over the cropped positions that such an old view still covers.
    """

    def __init__(self, headroom: int = 64):
        super().__init__()
        self.headroom = headroom
        self.length = 0
        self._key_buffer = self._value_buffer = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if self.length == 0:
            self._allocate(key_states, value_states, end + self.headroom)
        elif key_states.shape[0] != self.keys.shape[0]:
            raise ValueError(f"The cache holds {self.keys.shape[0]} rows; the update has {key_states.shape[0]}.")
        elif end > self._key_buffer.shape[-2]:
            self._allocate(self.keys, self.values, max(end, 2 * self._key_buffer.shape[-2]))
        self._key_buffer[:, :, self.length : end] = key_states
        self._value_buffer[:, :, self.length : end] = value_states
        self._set_length(end)
        return self.keys, self.values

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.length > 0:
            keys, values = self.keys.repeat_interleave(repeats, dim=0), self.values.repeat_interleave(repeats, dim=0)
            self._allocate(keys, values, self._key_buffer.shape[-2])

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.length > 0:
            self._allocate(self.keys[indices, ...], self.values[indices, ...], self._key_buffer.shape[-2])

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        if self.length > 0:
            self.batch_select_indices(beam_idx.to(self.keys.device))

    def crop(self, tokens_to_remove: int) -> None:
        super().crop(tokens_to_remove)  # leaves views of the first positions
        if self.length > 0:
            self._set_length(self.keys.shape[-2])

    def offload(self):
        raise NotImplementedError("InPlaceLayer does not offload; use transformers' DynamicLayer for that.")

    def prefetch(self):
        raise NotImplementedError("InPlaceLayer does not offload; use transformers' DynamicLayer for that.")

    def reset(self) -> None:
        self.length = 0
        self._key_buffer = self._value_buffer = None
        super().reset()

    def _allocate(self, keys: torch.Tensor, values: torch.Tensor, positions: int) -> None:
        """New buffers of `positions` positions holding `keys` / `values` (the filled positions) at their start."""
        filled = keys.shape[-2] if self.length > 0 else 0
        self._key_buffer = keys.new_empty((*keys.shape[:2], positions, keys.shape[-1]))
        self._value_buffer = values.new_empty((*values.shape[:2], positions, values.shape[-1]))
        self._key_buffer[:, :, :filled] = keys[:, :, :filled]
        self._value_buffer[:, :, :filled] = values[:, :, :filled]
        self._set_length(filled)

    def _set_length(self, length: int) -> None:
        self.length = length
        self.keys = self._key_buffer[:, :, :length]
        self.values = self._value_buffer[:, :, :length]


def in_place_cache_for(config, headroom: int = 64) -> DynamicCache:
    """transformers' `DynamicCache` for a model `config`, with each full-attention layer an `InPlaceLayer` (first
    buffers: the prompt plus `headroom` positions); other layer kinds (sliding windows, linear attention) are
    transformers' own."""
    cache = DynamicCache(config=config)
    cache.layers = [InPlaceLayer(headroom) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache
