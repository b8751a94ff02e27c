"""The critic: a value head on the policy's last hidden state, sharing the policy's backbone (as the ReFT paper does).

`attach_value_head(model)` adds `model.v_head` (a `ValueHead`) to a causal LM and lets its forward return per-position
state values from the SAME forward pass that produces the log-probabilities: call the model with `return_values=True`
and read `outputs["state_values"]` of shape `(B, L)` (or `(B, logits_to_keep)` with that argument on a model whose
forward bypasses its `base_model` module, as OPT's does; the last positions either way); with
`detach_critic_input=True` as well, the value loss's gradient stops at the head's input and never reaches the shared
backbone. Without that keyword the forward is untouched, so generation and every other caller see the original model.

>>> import torch
>>> from transformers import LlamaConfig, LlamaForCausalLM
>>> model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
...                                      num_attention_heads=2, num_key_value_heads=1))
>>> head = attach_value_head(model)
>>> model(torch.tensor([[1, 2, 3]]), return_values=True)["state_values"].shape
torch.Size([1, 3])
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn
from transformers.utils import ModelOutput

VALUE_HEAD_NAME = "v_head"
VALUE_HEAD_FILE = "value_head.safetensors"


@dataclass
class CausalLMOutputWithValues(ModelOutput):
    """The policy's forward output plus `state_values` (B, L); a registered `ModelOutput`, so DDP can rebuild it."""

    loss: torch.Tensor | None = None
    log_probs: torch.Tensor | None = None
    entropy: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    state_values: torch.Tensor | None = None


class ValueHead(nn.Module):
    """`V(s_t) = w^T h_t + b`: one linear layer from the last hidden state `h_t` (B, L, H) to a scalar value (B, L).

    The head runs in float32 whatever the backbone's dtype and whatever autocast is active, so value targets of
    size ~1 keep their precision under bf16 mixed precision. `w` and `b` start at 0: the first values are 0, so the
    first advantages are the rewards-to-go rather than a random critic's noise (a default-initialised head gives
    values of standard deviation ~0.58 RMS(h), about 1 on a 135M model, against scores in [0, 1]).
    """

    def __init__(self, hidden_size: int):
        super().__init__()
        # Parameters of this module itself, not of an `nn.Linear` child: PEFT's `target_modules="all-linear"` then
        # leaves the head alone, and DeepSpeed ZeRO-3 gathers them when the head is called.
        self.weight = nn.Parameter(torch.zeros(1, hidden_size))
        self.bias = nn.Parameter(torch.zeros(1))
        self._register_load_state_dict_pre_hook(_read_linear_layout)

    def forward(self, hidden_states: torch.Tensor, **inputs) -> torch.Tensor:
        with torch.autocast(device_type=hidden_states.device.type, enabled=False):
            values = nn.functional.linear(hidden_states.float(), self.weight.float(), self.bias.float())
        return values.squeeze(-1)  # (B, L), float32


def _read_linear_layout(state_dict, prefix, *args, **kwargs) -> None:
    """Checkpoints written before the head held its own parameters name them `summary.weight` / `summary.bias`."""
    for name in ("weight", "bias"):
        if f"{prefix}summary.{name}" in state_dict and f"{prefix}{name}" not in state_dict:
            state_dict[f"{prefix}{name}"] = state_dict.pop(f"{prefix}summary.{name}")


class ValueModelCritic(nn.Module):
    """A separate critic network: its own backbone reads the token ids, and a scalar head maps each position to a value.

    Accepts what TRL 1.12's `PPOTrainer` took as `value_model` (a `*ForSequenceClassification` with 1 label, whose
    `score` layer becomes the head) or a causal LM / bare backbone (a fresh `ValueHead` is put on top).
    """

    def __init__(self, value_model: nn.Module):
        super().__init__()
        self.backbone = getattr(value_model, value_model.base_model_prefix, value_model)
        score = getattr(value_model, "score", None)
        if score is not None and score.out_features == 1:
            self.head = score
        else:
            self.head = ValueHead(self.backbone.config.hidden_size)

    def forward(self, hidden_states: torch.Tensor, input_ids=None, attention_mask=None, **inputs) -> torch.Tensor:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if isinstance(self.head, ValueHead):
            return self.head(hidden)
        # the model's own score layer, called (so that ZeRO-3 gathers it) outside autocast: float32 with float32
        # weights, as ValueHead computes
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            return self.head(hidden.to(self.head.weight.dtype)).squeeze(-1).float()  # (B, L)


def hidden_size_of(model: nn.Module) -> int:
    """Width of the hidden state that feeds the LM head (OPT/Galactica project it to `word_embed_proj_dim`)."""
    return model.get_output_embeddings().weight.shape[1]


def attach_value_head(model: nn.Module, head: ValueHead | None = None) -> ValueHead:
    """Add `head` (a fresh `ValueHead` by default) as `model.v_head` and teach `model.forward` to return values.

    Call it on the plain causal LM (under PEFT: `peft_model.get_base_model()`). It wraps whatever `forward` the
    instance has at call time, so call it AFTER other instance-level forward patches (TRL's fused LM head).
    """
    if head is None:
        head = getattr(model, VALUE_HEAD_NAME, None) or ValueHead(hidden_size_of(model))
    model.add_module(VALUE_HEAD_NAME, head)
    _wrap_forward_with_values(model)
    return head


def _wrap_forward_with_values(model: nn.Module) -> None:
    inner_forward = model.forward
    backbone = model.base_model  # the decoder stack: `model.model` for Llama and OPT

    @functools.wraps(type(model).forward)
    def forward(*args, return_values: bool = False, detach_critic_input: bool = False, **kwargs):
        if not return_values:
            return inner_forward(*args, **kwargs)
        captured = {}

        def keep_last_hidden_state(module, inputs, output):
            captured["hidden"] = output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]

        def keep_head_input(module, inputs):
            captured["head_input"] = inputs[0]

        # The backbone's output, at every position; or, when the causal LM bypasses that module (OPT's forward calls
        # its decoder directly), what the LM head reads: the last `logits_to_keep` positions under that argument
        handles = [
            backbone.register_forward_hook(keep_last_hidden_state),
            model.get_output_embeddings().register_forward_pre_hook(keep_head_input),
        ]
        try:
            outputs = inner_forward(*args, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
        critic = getattr(model, VALUE_HEAD_NAME)
        hidden = captured.get("hidden", captured.get("head_input"))
        hidden = hidden.detach() if detach_critic_input else hidden
        state_values = critic(  # (B, L)
            hidden, input_ids=kwargs.get("input_ids"), attention_mask=kwargs.get("attention_mask")
        )
        return CausalLMOutputWithValues(
            loss=outputs.get("loss"),
            log_probs=outputs.get("log_probs"),
            entropy=outputs.get("entropy"),
            logits=outputs.get("logits"),
            state_values=state_values,
        )

    model.forward = forward
