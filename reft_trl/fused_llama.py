"""A Llama decode step in few operators (`hf_decoding` / `rollout_decoding` "fused").

On a CPU a decode step of a small model is mostly overhead: SmolLM2-135M's forward at 8 rows ran about 7,000 small
operators around its 211 matrix products (BENCHMARKS.md, "Sixth measurement"). `FusedLlamaDecoder` computes the same
transformer with fewer and larger calls: the query, key and value projections as one product, the gate and up
projections as one, rotary embeddings on queries and keys together, a key/value cache allocated once per batch and
written in place, SDPA reading the grouped key/value heads as they are. Each operation mirrors transformers'
`LlamaForCausalLM` in the same dtypes (RMSNorm statistics in float32; under bf16 autocast a float32 residual stream and
bf16 products), so it samples from the same distribution; its greedy tokens are checked against transformers' in
`tests/test_fused_llama.py`. The products come from weights packed once per decoder for oneDNN (as
`reft_trl.packed_linear` packs them): bf16 on a CPU with native bf16, float32 anywhere oneDNN is built in (float32
products then differ from transformers' in the last bits). A LoRA adapter is merged into the weights (W + BA rounded
once, where PEFT's forward adds the two products).

Only a CPU, only transformers' `llama` model type (SmolLM2, TinyLlama, CodeLlama, Llama 2 / 3) with SDPA attention,
its own rotary embedding, SiLU MLP and full attention in every layer, and plain or LoRA linear layers;
`fused_support` names what stands in the way otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .packed_linear import _bf16_autocast, can_pack, packed_product

FUSED_MODEL_TYPES = ("llama",)
"""transformers model types `FusedLlamaDecoder` computes."""


def fused_support(model, training: bool | None = None) -> str | None:
    """Why `FusedLlamaDecoder` cannot decode `model` (a causal LM or a PEFT model around one), or None when it can.

    `training`: whether the model will decode in training mode (TRL's rollouts do, with dropout active); None: its
    mode now. The fused forward has no dropout, so active dropout is refused.
    """
    from transformers import LlamaForCausalLM

    causal_lm = _causal_lm(model)
    config = getattr(causal_lm, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type not in FUSED_MODEL_TYPES:
        return f"the fused decoder computes {', '.join(FUSED_MODEL_TYPES)} models; this one is {model_type!r}"
    if not isinstance(causal_lm, LlamaForCausalLM):
        return f"the fused decoder computes transformers' LlamaForCausalLM; this model is a {type(causal_lm).__name__}"
    if causal_lm.device.type != "cpu":
        return f"the fused decoder runs on a CPU; this model is on {causal_lm.device.type}"
    if torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") != torch.bfloat16:
        return f"the fused decoder mirrors bf16 autocast only; {torch.get_autocast_dtype('cpu')} autocast is on"
    if getattr(config, "hidden_act", "silu") != "silu" or getattr(config, "pretraining_tp", 1) != 1:
        return "the fused decoder computes Llama's SiLU MLP without tensor-parallel slicing only"
    if any(kind != "full_attention" for kind in getattr(config, "layer_types", None) or ()):
        return "the fused decoder computes full attention in every layer only"
    if getattr(config, "_attn_implementation", "sdpa") != "sdpa":
        return f"attention implementation {config._attn_implementation!r}: the fused decoder computes SDPA's"
    is_peft = hasattr(model, "peft_config") and hasattr(model, "active_adapter")
    if is_peft and model.peft_config[model.active_adapter].is_prompt_learning:
        return "a prompt-learning adapter needs PEFT's forward"
    if any(hasattr(module, "_hf_hook") for module in causal_lm.modules()):
        return "accelerate hooks (offloaded or dispatched weights) move weights inside the model's forward"
    if type(causal_lm.get_input_embeddings()) is not torch.nn.Embedding:
        return (
            f"a {type(causal_lm.get_input_embeddings()).__name__} input embedding: the fused decoder reads a plain one"
        )
    training = causal_lm.training if training is None else training
    modules = [*causal_lm.model.layers.modules(), *causal_lm.lm_head.modules()]
    tuners = {id(module): module for module in modules if _is_tuner_layer(module)}
    inside = {id(inner) for tuner in tuners.values() for inner in tuner.modules() if inner is not tuner}
    for module in (causal_lm.lm_head, *modules):  # the head itself, whatever wraps it, then every linear layer
        if training and isinstance(module, torch.nn.Dropout) and module.p > 0:
            return f"dropout (p={module.p}) is active while decoding: the fused forward has none"
        if (
            module is causal_lm.lm_head
            or id(module) in tuners
            or (
                isinstance(module, torch.nn.Linear)
                and id(module) not in inside  # not a base layer or an adapter factor
            )
        ):
            reason = _linear_support(module)
            if reason:
                return reason
    if training and getattr(config, "attention_dropout", 0.0) > 0:
        return f"attention dropout ({config.attention_dropout}) is active while decoding: the fused forward has none"
    return None


class FusedLlamaDecoder:
    """The decoding state of one batch: the packed weights, the key/value cache, each row's mask and position.

    `prefill` runs the left-padded prompts and returns the last position's logits; `repeat` copies each row's state
    to its samples; `step` appends one token to every row and returns the next logits; `select` keeps some rows. The
    logits are float32, as transformers' `generate` turns them. The products are bf16 when the model's weights are
    bf16 or bf16 autocast is on at construction (as they would be in the model's forward), else float32.

    Args:
        model: a `LlamaForCausalLM` (or a PEFT model around one); its weights are read at construction, so build a
            decoder after they change.
        rows: the rows the decode steps multiply (oneDNN's hint for the packed layout).
        pack_weights: compute the products from weights packed once for oneDNN (bf16 where the CPU computes bf16
            natively; float32), else with `torch.nn.functional.linear` (`_fused_linear`).
    """

    def __init__(self, model, rows: int = 8, pack_weights: bool = True):
        reason = fused_support(model)
        if reason:
            raise ValueError(reason)
        causal_lm = _causal_lm(model)
        config = causal_lm.config
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.max_positions = 0
        self.rotary = causal_lm.model.rotary_emb
        self.embed = causal_lm.get_input_embeddings().weight.detach()
        bf16 = self.embed.dtype == torch.bfloat16 or _bf16_autocast()
        self.compute = torch.bfloat16 if bf16 else self.embed.dtype  # the products', the cache's and attention's
        self.final_norm = _norm(causal_lm.model.norm)
        self.lm_head = _fused_linear(self.compute, rows, causal_lm.lm_head, pack=pack_weights)
        self.layers = []
        for layer in causal_lm.model.layers:
            attention, mlp = layer.self_attn, layer.mlp
            self.layers.append(
                {
                    "input_norm": _norm(layer.input_layernorm),
                    "qkv": _fused_linear(
                        self.compute, rows, attention.q_proj, attention.k_proj, attention.v_proj, pack=pack_weights
                    ),
                    "o": _fused_linear(self.compute, rows, attention.o_proj, pack=pack_weights),
                    "post_norm": _norm(layer.post_attention_layernorm),
                    "gate_up": _fused_linear(self.compute, rows, mlp.gate_proj, mlp.up_proj, pack=pack_weights),
                    "down": _fused_linear(self.compute, rows, mlp.down_proj, pack=pack_weights),
                }
            )
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.length = 0
        self.mask = self.positions = None

    @torch.inference_mode()
    def prefill(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
        """Run `(B, T)` left-padded prompts (`attention_mask` 0 on padding), with cache room for `max_new_tokens`
        more positions; the logits of their last positions. Starts a new batch."""
        batch, length = input_ids.shape
        self.length, self.max_positions = 0, length + max_new_tokens
        shape = (batch, self.num_kv_heads, self.max_positions, self.head_dim)
        self.keys = [torch.empty(shape, dtype=self.compute) for _ in self.layers]
        self.values = [torch.empty(shape, dtype=self.compute) for _ in self.layers]
        self.mask = torch.zeros((batch, self.max_positions), dtype=torch.bool)
        self.mask[:, :length] = attention_mask.bool()
        position_ids = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
        self.positions = position_ids[:, -1]
        if bool(self.mask[:, :length].all()):
            mask = None  # causal attention, as transformers' SDPA path runs an unpadded batch
        else:  # causal and padding; a padding position attends to itself (never read, kept finite)
            causal = torch.ones((length, length), dtype=torch.bool).tril()
            mask = (causal & self.mask[:, None, None, :length]) | torch.eye(length, dtype=torch.bool)
        return self._forward(input_ids, position_ids, mask)

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append one token to each row (`(B,)` ids); the logits of the next position."""
        if self.length >= self.max_positions:
            raise ValueError(f"The cache holds {self.max_positions} positions; all are filled.")
        self.mask[:, self.length] = True
        self.positions = self.positions + 1
        visible = self.mask[:, : self.length + 1]
        mask = None if bool(visible.all()) else visible[:, None, None, :]
        return self._forward(tokens[:, None], self.positions[:, None], mask)

    def repeat(self, samples: int) -> None:
        """Each row `samples` times, consecutively (`generate`'s `num_return_sequences`)."""
        if samples > 1:
            self._rebuild(lambda tensor: tensor.repeat_interleave(samples, dim=0))

    def select(self, rows: torch.Tensor) -> None:
        """Keep the rows `rows` (indices into the current batch), in that order."""
        self._rebuild(lambda tensor: tensor[rows])

    def _rebuild(self, take) -> None:
        filled = self.length
        for cache in (self.keys, self.values):
            for index, buffer in enumerate(cache):
                kept = take(buffer[:, :, :filled])
                cache[index] = buffer.new_empty((kept.shape[0], *buffer.shape[1:]))
                cache[index][:, :, :filled] = kept
        mask = take(self.mask)
        self.mask, self.positions = mask, take(self.positions)

    def _forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, mask) -> torch.Tensor:
        """The model's forward over `(B, S)` new positions written at the cache's end; the last position's logits.

        `mask`: None (causal over the filled cache) or a boolean `(B, 1, S, L)` mask over the filled cache.
        """
        batch, new = input_ids.shape
        start, end = self.length, self.length + new
        hidden = F.embedding(input_ids, self.embed)
        cos, sin = self.rotary(hidden, position_ids)  # `(B, S, D)` in the residual stream's dtype
        cos, sin = cos[:, :, None, :], sin[:, :, None, :]
        q_width = self.num_heads * self.head_dim
        kv_width = self.num_kv_heads * self.head_dim
        groups = self.num_heads // self.num_kv_heads
        for layer, keys, values in zip(self.layers, self.keys, self.values, strict=True):
            # Attention: one product for queries, keys and values; rotary on queries and keys together
            qkv = layer["qkv"](layer["input_norm"](hidden))
            qk = qkv[..., : q_width + kv_width].view(batch, new, self.num_heads + self.num_kv_heads, self.head_dim)
            half = self.head_dim // 2
            rotated = torch.cat((-qk[..., half:], qk[..., :half]), dim=-1)
            qk = ((qk * cos) + (rotated * sin)).to(self.compute)  # under autocast: float32, cast as SDPA's inputs
            query = qk[:, :, : self.num_heads].transpose(1, 2)
            keys[:, :, start:end] = qk[:, :, self.num_heads :].transpose(1, 2)
            values[:, :, start:end] = (
                qkv[..., q_width + kv_width :].view(batch, new, -1, self.head_dim).transpose(1, 2)
            )
            key, value = keys[:, :, :end], values[:, :, :end]
            if mask is None:
                attended = F.scaled_dot_product_attention(
                    query, key, value, is_causal=new > 1, scale=self.scaling, enable_gqa=groups > 1
                )
            elif new == 1 and groups > 1:  # each key/value head's query heads as its rows (transformers' `pack_gqa`)
                query = query.reshape(batch, self.num_kv_heads, groups, self.head_dim)
                attended = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=self.scaling)
            else:
                if groups > 1:
                    key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
                attended = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=self.scaling)
            attended = attended.reshape(batch, self.num_heads, new, self.head_dim).transpose(1, 2)
            hidden = hidden + layer["o"](attended.reshape(batch, new, q_width))
            # MLP: one product for gate and up
            gate, up = layer["gate_up"](layer["post_norm"](hidden)).chunk(2, dim=-1)
            hidden = hidden + layer["down"](F.silu(gate) * up)
        self.length = end
        return self.lm_head(self.final_norm(hidden[:, -1])).float()


def _norm(norm: torch.nn.Module):
    """transformers' `LlamaRMSNorm` forward: float32 statistics, the weight times the input's dtype."""
    weight, eps = norm.weight.detach(), norm.variance_epsilon

    def forward(hidden: torch.Tensor) -> torch.Tensor:
        dtype = hidden.dtype
        hidden = hidden.to(torch.float32)
        hidden = hidden * torch.rsqrt(hidden.pow(2).mean(-1, keepdim=True) + eps)
        return weight * hidden.to(dtype)

    return forward


def _fused_linear(dtype: torch.dtype, rows: int, *layers: torch.nn.Module, pack: bool = True):
    """One product for `layers` (their outputs concatenated), each a plain or LoRA linear layer, in `dtype`. With
    `pack`, from the weight packed once for oneDNN: bf16 where the CPU computes bf16 natively, float32 wherever oneDNN
    is built in (other kernels than `torch.nn.functional.linear`'s: the products differ in the last bits); else
    `torch.nn.functional.linear`."""
    weights, biases = zip(*(_effective_weight(layer) for layer in layers), strict=True)
    weight = torch.cat(weights).to(dtype)
    bias = None
    if any(b is not None for b in biases):
        bias = torch.cat(
            [b if b is not None else w.new_zeros(w.shape[0]) for w, b in zip(weights, biases, strict=True)]
        )
        bias = bias.to(dtype)
    packable = can_pack(layers[0]) if dtype == torch.bfloat16 else dtype == torch.float32 and _onednn_available()
    if not (pack and packable):
        return lambda x: F.linear(x.to(dtype), weight, bias)
    packed = torch.ops.mkldnn._reorder_linear_weight(weight, rows)
    return lambda x: packed_product(x.to(dtype), packed, bias)


def _onednn_available() -> bool:
    """Whether oneDNN's packed linear ops are built into this torch."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")


@torch.no_grad()
def _effective_weight(layer: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The weight and bias a linear layer computes with: a LoRA layer's base weight plus its active adapters'
    products (`get_delta_weight`, in the adapter's own dtype, outside autocast), unless they are merged or disabled."""
    if not _is_tuner_layer(layer):
        return layer.weight.detach(), None if layer.bias is None else layer.bias.detach()
    base = layer.get_base_layer()
    weight = base.weight.detach()
    if not layer.disable_adapters and not layer.merged:
        with torch.autocast("cpu", enabled=False):
            for adapter in layer.active_adapters:
                if adapter in layer.lora_A:
                    weight = weight + layer.get_delta_weight(adapter).to(weight.dtype)
    return weight, None if base.bias is None else base.bias.detach()


def _linear_support(module: torch.nn.Module) -> str | None:
    """Why the fused decoder cannot compute a linear layer (a plain one, or a PEFT tuner layer around one)."""
    if _is_tuner_layer(module):
        if not _is_lora_linear(module):
            return f"a {type(module).__name__} adapter layer: the fused decoder merges plain LoRA only"
        if not isinstance(module.get_base_layer(), torch.nn.Linear):
            return (
                f"{type(module.get_base_layer()).__name__} under a LoRA layer: the fused decoder packs plain weights"
            )
        active = [adapter for adapter in module.active_adapters if adapter in module.lora_A]
        if any(adapter in getattr(module, "lora_variant", {}) for adapter in active) or any(
            module.use_dora.get(adapter, False) for adapter in active
        ):
            return "a LoRA variant (DoRA, aLoRA, ...): the fused decoder merges plain LoRA only"
        if any(getattr(module, "lora_bias", {}).get(adapter, False) for adapter in active):
            return "a LoRA adapter with a bias (lora_bias): the fused decoder merges plain LoRA only"
        if module.merged and module.disable_adapters:
            return "a merged LoRA adapter that is disabled: PEFT unmerges it in its forward"
        return None
    if type(module) is not torch.nn.Linear or "forward" in vars(module):
        return f"a {type(module).__name__} layer: the fused decoder packs torch.nn.Linear and LoRA layers only"
    return None


def _is_tuner_layer(module) -> bool:
    """A PEFT adapter layer (LoRA, IA3, LoHa, ...)."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:
        return False
    return isinstance(module, BaseTunerLayer)


def _is_lora_linear(module) -> bool:
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:
        return False
    return isinstance(module, LoraLayer)


def _causal_lm(model):
    """The transformers model inside a PEFT model (whose LoRA layers sit in it), or `model` itself."""
    get_base_model = getattr(model, "get_base_model", None)
    return get_base_model() if callable(get_base_model) and hasattr(model, "peft_config") else model
