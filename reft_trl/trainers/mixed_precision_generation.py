"""`MixedPrecisionGenerationMixin`: how TRL's transformers-backend rollouts sample: which weights, which decoding.

TRL runs the training forwards under `accelerator.autocast()` but calls `model.generate` outside it, so with fp32
weights and `bf16=True` the rollouts would decode in fp32: on a CPU with native bf16 that is the slowest part of a PPO
step. By default (`rollout_weights="policy"`) the rollouts are sampled inside the same autocast as the training
forwards, so the rollout's distribution is the one whose log-probabilities the update computes. (Autocast casts each
trained weight once per rollout, not once per step: it caches the casts of leaf tensors that require grad for the
length of the context. The activations are cast at every step.)

`rollout_weights="bf16_copy"` samples instead with a bfloat16 copy of the policy, refreshed before every rollout and
run without autocast: the activations stay in bf16 instead of being cast around every matmul at every step. It is
also what `rollout_decoding="compiled"` needs under mixed precision, since a compiled step under autocast casts the
float32 weights at every step (the casts are ops of the compiled graph, outside autocast's cache).
`rollout_decoding` (`reft_trl.generation.ROLLOUT_DECODINGS`) sets transformers' cache and compilation, which TRL turns
off, or (`"shrinking"`, `"fused"`) replaces transformers' `generate` for the rollout with reft-trl's loop that drops
each finished completion from the batch (`"fused"`: with reft-trl's own Llama forward, `reft_trl.fused_llama`).
`rollout_pack_weights` has bf16 rollouts on a CPU compute from the weights packed once per
rollout for oneDNN (`reft_trl.packed_linear`). vLLM rollouts are untouched (vLLM has its own dtype).
"""

from __future__ import annotations

import contextlib
import copy
import functools

from ..generation import (
    DEFAULT_ROLLOUT_DECODING,
    ROLLOUT_DECODINGS,
    SHRINKING_DECODINGS,
    check_shrinking_generation_config,
    effective_generation_config,
    generate_shrinking_as_generate,
    grouped_kv_attention,
    hf_decoding_settings,
    packed_for_decoding,
)
from .value_head import VALUE_HEAD_NAME

ROLLOUT_WEIGHTS = {
    "policy": "the trained weights, under the trainer's autocast when mixed precision is on",
    "bf16_copy": "a bfloat16 copy of the trained weights, refreshed before every rollout, run without autocast",
}
"""Valid `rollout_weights`, each with what the rollouts sample with."""
DEFAULT_ROLLOUT_WEIGHTS = "policy"
ROLLOUT_COPY_DTYPE = "bfloat16"
"""dtype of the `"bf16_copy"` weights."""
DEFAULT_ROLLOUT_PACK_WEIGHTS = True
"""Rollouts' default (`rollout_pack_weights`): the same products; a decode step of the rollouts' batch measured 1.18x
faster in a profile (BENCHMARKS.md, "Seventh measurement"), whole rollouts' sampling 1.03x and 1.20x in two orders, within
the machine's spread ("Eighth measurement")."""


def check_rollout_options(config) -> None:
    """Refuse `rollout_weights`, `rollout_decoding` or `rollout_pack_weights` values that are unknown, would be
    ignored, or conflict.

    Called from the config's `__post_init__` once `bf16` is resolved.
    """
    if config.rollout_weights not in ROLLOUT_WEIGHTS:
        raise ValueError(f"rollout_weights={config.rollout_weights!r}; valid: {', '.join(ROLLOUT_WEIGHTS)}.")
    if config.rollout_decoding not in ROLLOUT_DECODINGS:
        raise ValueError(f"rollout_decoding={config.rollout_decoding!r}; valid: {', '.join(ROLLOUT_DECODINGS)}.")
    defaults = {
        "rollout_weights": DEFAULT_ROLLOUT_WEIGHTS,
        "rollout_decoding": DEFAULT_ROLLOUT_DECODING,
        "rollout_pack_weights": DEFAULT_ROLLOUT_PACK_WEIGHTS,
    }
    changed = [
        f"{name}={getattr(config, name)!r}" for name, default in defaults.items() if getattr(config, name) != default
    ]
    if not changed:
        return
    other_sampler = config.use_vllm or config.use_transformers_continuous_batching or config.use_transformers_paged
    if other_sampler:
        raise ValueError(
            f"{', '.join(changed)}: these options shape sampling with transformers' `generate`; with use_vllm or "
            "continuous batching they would be ignored. Leave them at their defaults."
        )
    own_cache = (None,) if config.rollout_decoding in SHRINKING_DECODINGS else (None, "static")
    if config.rollout_decoding != DEFAULT_ROLLOUT_DECODING and config.cache_implementation not in own_cache:
        raise ValueError(
            f"rollout_decoding={config.rollout_decoding!r} chooses transformers' cache itself; leave "
            f"cache_implementation unset (it is {config.cache_implementation!r})."
        )
    if config.rollout_decoding == "fused" and config.fp16:
        raise ValueError("rollout_decoding='fused' mirrors bf16 autocast or float32, not fp16; use 'shrinking'.")
    if config.rollout_decoding == "compiled" and config.rollout_weights == "policy" and (config.bf16 or config.fp16):
        raise ValueError(
            "rollout_decoding='compiled' under mixed precision needs rollout_weights='bf16_copy': a compiled decode "
            "step under autocast would cast the float32 weights again at every step."
        )


class MixedPrecisionGenerationMixin:
    """Samples TRL's transformers-backend rollouts with `args.rollout_weights` and `args.rollout_decoding`. Mix in
    before `GRPOTrainer` and call `_set_up_rollout_decoding()` at the end of `__init__`."""

    _rollout_copy = None

    @property
    def _rollout_weights(self) -> str:
        """`args.rollout_weights`; a config without the field (TRL's `GRPOConfig`, online self-training) samples with
        the policy under autocast."""
        return getattr(self.args, "rollout_weights", DEFAULT_ROLLOUT_WEIGHTS)

    @property
    def _rollout_pack_weights(self) -> bool:
        """`args.rollout_pack_weights` (a config without the field packs: GRPO's and online self-training's), off under
        DeepSpeed or FSDP (weights gathered or sharded per forward) and with continuous batching (TRL casts the model
        itself there)."""
        packing = getattr(self.args, "rollout_pack_weights", DEFAULT_ROLLOUT_PACK_WEIGHTS)
        elsewhere = ("is_deepspeed_enabled", "is_fsdp_enabled", "use_transformers_continuous_batching")
        return packing and not any(getattr(self, name, False) for name in elsewhere)

    @property
    def _rollout_decoding(self) -> str:
        """`args.rollout_decoding`; transformers' default decoding for a config without the field."""
        return getattr(self.args, "rollout_decoding", DEFAULT_ROLLOUT_DECODING)

    def _set_up_rollout_decoding(self) -> None:
        """Apply `rollout_decoding` to TRL's generation config (or, for "shrinking", check that the loop can honour
        it) and refuse a copy of weights that are not all here."""
        if self.use_vllm or self.use_transformers_continuous_batching:
            return
        from accelerate.utils import is_peft_model

        policy = self.accelerator.unwrap_model(self.model)
        if self._rollout_weights == "bf16_copy" and (
            is_peft_model(policy) or self.is_deepspeed_enabled or self.is_fsdp_enabled
        ):
            raise ValueError(
                "rollout_weights='bf16_copy' copies the weights of a plain causal LM held whole on this process; "
                "under PEFT, DeepSpeed or FSDP, sample with rollout_weights='policy'."
            )
        if self._rollout_decoding in SHRINKING_DECODINGS:  # TRL's generation config, read by reft-trl's loop
            self._check_shrinking_rollouts(policy)
            return
        settings = hf_decoding_settings(self._rollout_decoding, policy)
        for name, value in settings.items():
            setattr(self.generation_config, name, value)
        self.generation_kwargs.update(settings)

    def _check_shrinking_rollouts(self, policy) -> None:
        """Refuse "shrinking" where it would decode otherwise than `generate`, or hang a multi-process run.

        With weights sharded across processes (FSDP, or ZeRO-3 without `ds3_gather_for_generation`) every forward
        gathers them from all processes, so transformers' `generate` keeps each process stepping until all are done
        (`synced_gpus`); the shrinking loop stops a process as soon as its own completions end.
        """
        check_shrinking_generation_config(effective_generation_config(policy, self.generation_config))
        if self._rollout_decoding == "fused":
            from ..fused_llama import fused_support

            reason = fused_support(policy, training=True)  # TRL's rollouts decode in training mode
            if reason:
                raise ValueError(f"rollout_decoding='fused': {reason}; use 'shrinking'.")
        sharded = self.is_fsdp_enabled or (
            self.is_deepspeed_enabled
            and self.accelerator.state.deepspeed_plugin.zero_stage == 3
            and not self.args.ds3_gather_for_generation
        )
        if sharded and self.accelerator.num_processes > 1:
            raise ValueError(
                f"rollout_decoding={self._rollout_decoding!r} stops each process when its own completions end, while "
                "FSDP (or ZeRO-3 without ds3_gather_for_generation) needs every process in every forward; use 'dynamic'."
            )

    def _generate_single_turn(self, *args, **kwargs):
        if self.use_vllm:
            return super()._generate_single_turn(*args, **kwargs)
        if self._rollout_weights == "bf16_copy":
            sampling = self._sampling_with_rollout_copy()
        else:
            sampling = self.accelerator.autocast()
        policy = self.accelerator.unwrap_model(self.model)
        prompt_ids = args[0] if args else kwargs.get("prompt_ids", ())
        with (
            sampling,
            grouped_kv_attention(self._rollout_decoding, policy),
            self._shrinking_rollouts(),
            self._packed_rollouts(rows=max(1, len(prompt_ids))),
        ):
            return super()._generate_single_turn(*args, **kwargs)

    def _packed_rollouts(self, rows: int):
        """Under `rollout_pack_weights`, the model that samples (the policy or its bf16 copy, entered after the
        sampling context so that autocast is on) computes from its weights packed for this rollout; its critic, which
        decoding never calls, is left as it is."""
        sampler = self.accelerator.unwrap_model(self.model_wrapped)
        critic = getattr(sampler, VALUE_HEAD_NAME, None)
        return packed_for_decoding(
            sampler,
            self._rollout_decoding,
            rows=rows,
            pack_weights=self._rollout_pack_weights,
            skip=() if critic is None else (critic,),
        )

    @contextlib.contextmanager
    def _shrinking_rollouts(self):
        """Under `rollout_decoding="shrinking"` (or `"fused"`), the model TRL's `_generate_single_turn` generates with
        (the policy or its bf16 copy) decodes with `generate_shrinking_as_generate` for the call: a finished completion
        leaves the batch instead of being computed until the longest one ends (`"fused"`: with
        `reft_trl.fused_llama.FusedLlamaDecoder`'s forwards, built from the weights of this rollout)."""
        if self._rollout_decoding not in SHRINKING_DECODINGS:
            yield
            return
        sampler = self.accelerator.unwrap_model(self.model_wrapped)
        own = vars(sampler).get("generate")  # an instance-level `generate` someone set before is put back
        fused = self._rollout_decoding == "fused"
        sampler.generate = functools.partial(generate_shrinking_as_generate, sampler, fused=fused)
        try:
            yield
        finally:
            if own is None:
                del sampler.generate
            else:
                sampler.generate = own

    @contextlib.contextmanager
    def _sampling_with_rollout_copy(self):
        """TRL's `_generate_single_turn` generates with `self.model_wrapped`: it is the refreshed bf16 copy for the
        call (`tests/trainers/test_rollout_sampling.py` checks that the copy is what generates)."""
        import torch

        policy = self.accelerator.unwrap_model(self.model)
        if self._rollout_copy is None:
            self._rollout_copy = copy_in_dtype(policy, getattr(torch, ROLLOUT_COPY_DTYPE))
        else:
            refresh_copy(policy, self._rollout_copy)
        wrapped = self.model_wrapped
        self.model_wrapped = self._rollout_copy
        try:
            yield
        finally:
            self.model_wrapped = wrapped


def copy_in_dtype(model, dtype):
    """A new model of `model`'s class and config holding its weights in `dtype`, on its device, in eval mode and
    without gradients. Modules added to the instance (the value head) and patched forwards are left out."""
    import torch

    config = copy.deepcopy(model.config)  # `_from_config` writes the dtype into the config it gets
    with torch.random.fork_rng(devices=[]):  # built on the CPU; its random initialisation leaves the seed alone
        duplicate = type(model)._from_config(config, dtype=dtype)
    duplicate = duplicate.to(model.device).eval().requires_grad_(False)
    duplicate.generation_config = copy.deepcopy(model.generation_config)
    refresh_copy(model, duplicate)
    return duplicate


def refresh_copy(source, duplicate) -> None:
    """Copy (and cast) `source`'s parameters and floating-point buffers into `duplicate`'s of the same names."""
    import torch

    params, buffers = dict(source.named_parameters()), dict(source.named_buffers())
    missing = [name for name, _ in duplicate.named_parameters() if name not in params]
    if missing:
        raise RuntimeError(f"The rollout copy has weights its source lacks: {', '.join(missing[:5])}.")
    with torch.no_grad():
        for name, target in duplicate.named_parameters():
            target.copy_(params[name])
        for name, target in duplicate.named_buffers():
            if target.is_floating_point() and name in buffers and buffers[name].shape == target.shape:
                target.copy_(buffers[name])
