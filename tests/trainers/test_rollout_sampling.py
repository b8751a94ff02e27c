"""ReFTPPOTrainer's rollout sampling options: `rollout_weights` (the policy under autocast, or a bf16 copy refreshed
before every rollout) and `rollout_decoding` (transformers' default cache, a static one, a compiled decode step, or
reft-trl's shrinking loop)."""

from __future__ import annotations

import pytest
import torch

from reft_trl import generation
from reft_trl.trainers import mixed_precision_generation
from reft_trl.trainers.mixed_precision_generation import copy_in_dtype, refresh_copy
from reft_trl.trainers.ppo_config import ReFTPPOConfig
from reft_trl.trainers.ppo_trainer import ReFTPPOTrainer
from reft_trl.trainers.value_head import VALUE_HEAD_NAME, attach_value_head
from tests.trainers.test_ppo_trainer import SMALL_VOCAB, arithmetic_prompts, digit_share, make_args
from tests.trainers.test_ppo_trainer import digit_trainer as make_trainer
from tests.utils import PackingCount, can_pack_here, linear_layers, tiny_llama, tiny_llama_classifier

needs_packing = pytest.mark.skipif(not can_pack_here(), reason="needs a CPU with native bf16 and oneDNN's packing ops")


def rollout(trainer, seed=0):
    """One call of TRL's rollout sampler on four prompts, seeded."""
    prompt_ids = [trainer.processing_class(f"{i}+{i}=")["input_ids"] for i in range(4)]
    torch.manual_seed(seed)
    completion_ids, _ = trainer._generate_single_turn(prompt_ids, None, {}, 1)
    return completion_ids


class ForwardCount:
    def __init__(self, module):
        self.calls = 0
        module.register_forward_pre_hook(self.hook)

    def hook(self, module, args):
        self.calls += 1


# Config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"rollout_weights": "fp16_copy"}, "valid: policy, bf16_copy"),
        ({"rollout_decoding": "paged"}, r"valid: dynamic, static, compiled, shrinking, fused\."),
        ({"rollout_decoding": "fused", "cache_implementation": "static"}, "leave cache_implementation unset"),
        ({"rollout_decoding": "shrinking", "cache_implementation": "static"}, "leave cache_implementation unset"),
        ({"rollout_decoding": "compiled", "bf16": True}, "needs rollout_weights='bf16_copy'"),
        ({"rollout_decoding": "static", "cache_implementation": "offloaded"}, "leave cache_implementation unset"),
        ({"rollout_weights": "bf16_copy", "use_vllm": True}, "would be ignored"),
        ({"rollout_pack_weights": False, "use_vllm": True}, "rollout_pack_weights=False: .* would be ignored"),
    ],
)
def test_bad_rollout_options_are_refused(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        make_args(tmp_path, **overrides)


def test_rollout_options_default_to_todays_sampling(tmp_path):
    args = ReFTPPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    assert (args.rollout_weights, args.rollout_decoding, args.rollout_pack_weights) == ("policy", "dynamic", True)
    assert make_args(tmp_path, rollout_weights="bf16_copy", rollout_decoding="compiled", bf16=True).bf16


@pytest.mark.parametrize("rollout_decoding", ["dynamic", "static", "compiled"])
def test_rollout_decoding_sets_trls_generation_config(tokenizer, tmp_path, rollout_decoding):
    trainer = make_trainer(tokenizer, tmp_path, rollout_decoding=rollout_decoding)
    config = trainer.generation_config
    assert config.cache_implementation == (None if rollout_decoding == "dynamic" else "static")
    assert config.disable_compile is (rollout_decoding != "compiled")  # TRL turns compilation off
    assert (config.compile_config is not None) is (rollout_decoding == "compiled")


@pytest.mark.parametrize(
    ("rollout_weights", "rollout_decoding"), [("policy", "shrinking"), ("bf16_copy", "shrinking"), ("policy", "fused")]
)
def test_shrinking_rollouts_sample_what_generate_samples(
    tokenizer, tmp_path, monkeypatch, rollout_weights, rollout_decoding
):
    """top-k 1 makes sampling deterministic: the shrinking loop (with the model's forward or the fused one) then gives
    `generate`'s rollouts exactly; TRL's own `generate` call is not made, and the model is left without the patch."""
    monkeypatch.setattr(mixed_precision_generation, "ROLLOUT_COPY_DTYPE", "float32")
    settings = dict(rollout_weights=rollout_weights, top_k=1, max_completion_length=12)
    expected = rollout(make_trainer(tokenizer, tmp_path, **settings))
    trainer = make_trainer(tokenizer, tmp_path, rollout_decoding=rollout_decoding, **settings)
    calls = []
    monkeypatch.setattr(
        mixed_precision_generation, "generate_shrinking_as_generate",
        lambda *args, **kwargs: calls.append(args) or generation.generate_shrinking_as_generate(*args, **kwargs),
    )  # fmt: skip
    assert rollout(trainer) == expected
    sampler = (
        trainer._rollout_copy if rollout_weights == "bf16_copy" else trainer.accelerator.unwrap_model(trainer.model)
    )
    assert len(calls) == 1 and calls[0][0] is sampler
    assert "generate" not in vars(sampler)


def test_fused_rollouts_refuse_a_model_they_cannot_decode(tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr("reft_trl.fused_llama.FUSED_MODEL_TYPES", ("mistral",))
    with pytest.raises(ValueError, match="rollout_decoding='fused': .* this one is 'llama'; use 'shrinking'"):
        make_trainer(tokenizer, tmp_path, rollout_decoding="fused")


def test_shrinking_rollouts_refuse_a_setting_they_would_ignore(tokenizer, tmp_path):
    with pytest.raises(ValueError, match=r"repetition_penalty=1.2, which the shrinking decoder .* does not apply"):
        make_trainer(tokenizer, tmp_path, rollout_decoding="shrinking", repetition_penalty=1.2)


def test_shrinking_rollouts_refuse_weights_sharded_across_processes(tokenizer, tmp_path, monkeypatch):
    trainer = make_trainer(tokenizer, tmp_path, rollout_decoding="shrinking")
    policy = trainer.accelerator.unwrap_model(trainer.model)
    trainer._check_shrinking_rollouts(policy)  # one process, no sharding
    monkeypatch.setattr(trainer, "is_fsdp_enabled", True)
    trainer._check_shrinking_rollouts(policy)  # FSDP on one process steps alone
    monkeypatch.setattr(type(trainer.accelerator), "num_processes", property(lambda self: 2))
    with pytest.raises(ValueError, match="needs every process in every forward; use 'dynamic'"):
        trainer._check_shrinking_rollouts(policy)


@pytest.mark.parametrize("rollout_decoding", ["shrinking", "fused"])
def test_a_ppo_step_trains_with_shrinking_rollouts(tokenizer, tmp_path, monkeypatch, rollout_decoding):
    calls = []
    monkeypatch.setattr(
        mixed_precision_generation, "generate_shrinking_as_generate",
        lambda *args, **kwargs: calls.append(kwargs) or generation.generate_shrinking_as_generate(*args, **kwargs),
    )  # fmt: skip
    trainer = make_trainer(tokenizer, tmp_path, rollout_decoding=rollout_decoding, max_steps=2)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    changed = {name for name, p in trainer.model.named_parameters() if not torch.equal(before[name], p)}
    assert "model.layers.0.mlp.up_proj.weight" in changed
    assert calls and all(call["fused"] is (rollout_decoding == "fused") for call in calls)  # through the loop


@needs_packing
@pytest.mark.parametrize(("rollout_weights", "rollout_decoding"), [("policy", "dynamic"), ("bf16_copy", "shrinking")])
def test_bf16_rollouts_sample_alike_from_weights_packed_once_per_rollout(
    tokenizer, tmp_path, monkeypatch, rollout_weights, rollout_decoding
):
    """top-k 1: the rollouts' tokens are the same with and without packing; the weights are packed once per rollout
    (the policy under autocast, or the copy) and the sampler is left as it was."""
    settings = dict(
        bf16=True, rollout_weights=rollout_weights, rollout_decoding=rollout_decoding, top_k=1,
        max_completion_length=12,
    )  # fmt: skip
    expected = rollout(make_trainer(tokenizer, tmp_path, rollout_pack_weights=False, **settings))
    trainer = make_trainer(tokenizer, tmp_path, **settings)
    count = PackingCount(monkeypatch)
    assert rollout(trainer) == expected
    assert rollout(trainer) == expected
    sampler = (
        trainer._rollout_copy if rollout_weights == "bf16_copy" else trainer.accelerator.unwrap_model(trainer.model)
    )
    assert count.packings == 2 * linear_layers(sampler) and count.products > 0
    assert not any("forward" in vars(m) for m in sampler.modules() if isinstance(m, torch.nn.Linear))


@needs_packing
def test_float32_rollouts_are_not_packed(tokenizer, tmp_path, monkeypatch):
    count = PackingCount(monkeypatch)
    trainer = make_trainer(tokenizer, tmp_path, max_completion_length=6)  # float32, no autocast
    rollout(trainer)
    assert trainer._rollout_pack_weights and count.packings == 0


@pytest.mark.parametrize(
    "setting", ["is_deepspeed_enabled", "is_fsdp_enabled", "use_transformers_continuous_batching"]
)
def test_rollouts_are_not_packed_where_weights_are_sharded_or_cast_by_trl(tokenizer, tmp_path, monkeypatch, setting):
    trainer = make_trainer(tokenizer, tmp_path)
    assert trainer._rollout_pack_weights
    monkeypatch.setattr(trainer, setting, True)
    assert not trainer._rollout_pack_weights


@needs_packing
def test_a_rank_1_adapters_bf16_rollouts_sample_alike_packed_and_leave_a_separate_critic_alone(
    tokenizer, tmp_path, monkeypatch
):
    """LoRA rank 1 (run 10's adapter) with a random B, so the adapter changes the tokens; a separate value model is
    attached to the policy and never called by decoding, so it is not packed."""
    from peft import LoraConfig

    def trainer(**overrides):
        return ReFTPPOTrainer(
            model=tiny_llama(SMALL_VOCAB, tie_word_embeddings=False),
            reward_funcs=digit_share,
            args=make_args(tmp_path, bf16=True, top_k=1, max_completion_length=12, **overrides),
            train_dataset=arithmetic_prompts(),
            processing_class=tokenizer,
            value_model=tiny_llama_classifier(SMALL_VOCAB, num_labels=1),
            peft_config=LoraConfig(
                r=1, lora_alpha=32, target_modules="all-linear", lora_dropout=0.0, init_lora_weights=False
            ),
        )

    expected = rollout(trainer(rollout_pack_weights=False))
    packed = trainer()
    count = PackingCount(monkeypatch)
    assert rollout(packed) == expected
    policy = packed.accelerator.unwrap_model(packed.model)
    critic = getattr(policy, VALUE_HEAD_NAME)
    assert linear_layers(critic) > 0
    assert count.packings == linear_layers(policy) - linear_layers(critic)


def test_a_bf16_copy_of_adapter_weights_is_refused(tokenizer, tmp_path):
    peft = pytest.importorskip("peft")
    with pytest.raises(ValueError, match="under PEFT, DeepSpeed or FSDP"):
        ReFTPPOTrainer(
            model=tiny_llama(SMALL_VOCAB),
            reward_funcs=digit_share,
            args=make_args(tmp_path, rollout_weights="bf16_copy"),
            train_dataset=arithmetic_prompts(),
            processing_class=tokenizer,
            peft_config=peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0),
        )


# The copy


def test_the_copy_holds_the_policys_weights_in_bf16_and_follows_them():
    policy = tiny_llama(SMALL_VOCAB)
    attach_value_head(policy)
    config_dtype, seed_state = policy.config.dtype, torch.random.get_rng_state()
    duplicate = copy_in_dtype(policy, torch.bfloat16)
    assert torch.equal(torch.random.get_rng_state(), seed_state)  # its throw-away initialisation draws nothing
    assert policy.config.dtype == config_dtype and policy.dtype == torch.float32  # the policy is left alone
    assert not hasattr(duplicate, "v_head") and not any(p.requires_grad for p in duplicate.parameters())
    names = dict(duplicate.named_parameters())
    for name, param in policy.named_parameters():
        if not name.startswith("v_head."):
            assert names[name].dtype == torch.bfloat16 and torch.equal(names[name], param.to(torch.bfloat16))
    with torch.no_grad():
        for param in policy.parameters():
            param.add_(1.0)
    refresh_copy(policy, duplicate)
    weight = policy.model.layers[0].mlp.up_proj.weight
    assert torch.equal(duplicate.model.layers[0].mlp.up_proj.weight, weight.to(torch.bfloat16))


def test_rollouts_sample_with_the_copy_refreshed_before_each(tokenizer, tmp_path, monkeypatch):
    """With a float32 copy the samples are exactly the policy's: TRL generates with the copy (`model_wrapped`),
    never with the policy, and the copy follows the policy's updates."""
    monkeypatch.setattr(mixed_precision_generation, "ROLLOUT_COPY_DTYPE", "float32")
    trainer = make_trainer(tokenizer, tmp_path, rollout_weights="bf16_copy", max_completion_length=12)
    policy = trainer.accelerator.unwrap_model(trainer.model)
    wrapped = trainer.model_wrapped
    from_copy = rollout(trainer)
    assert trainer._rollout_copy is not None and trainer.model_wrapped is wrapped
    policy_calls, copy_calls = ForwardCount(policy), ForwardCount(trainer._rollout_copy)
    assert rollout(trainer) == from_copy
    assert policy_calls.calls == 0 and copy_calls.calls > 0

    with torch.no_grad():
        for param in policy.parameters():
            param.mul_(1.5)  # an update
    from_refreshed_copy = rollout(trainer)
    trainer.args.rollout_weights = "policy"
    assert rollout(trainer) == from_refreshed_copy != from_copy
    assert copy_calls.calls > 0 and policy_calls.calls > 0


def test_a_ppo_step_trains_with_bf16_copy_rollouts(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path, rollout_weights="bf16_copy", rollout_decoding="static", max_steps=2)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    changed = {name for name, p in trainer.model.named_parameters() if not torch.equal(before[name], p)}
    assert "model.layers.0.mlp.up_proj.weight" in changed
    assert trainer._rollout_copy.dtype == torch.bfloat16


@pytest.mark.slow
def test_a_compiled_rollout_samples_as_the_policy(tokenizer, tmp_path, monkeypatch):
    """float32 copy, float32 policy: the compiled static-cache decode samples the policy's tokens."""
    monkeypatch.setattr(mixed_precision_generation, "ROLLOUT_COPY_DTYPE", "float32")
    torch._dynamo.reset()
    trainer = make_trainer(
        tokenizer, tmp_path, rollout_weights="bf16_copy", rollout_decoding="compiled", max_completion_length=12
    )
    compiled = rollout(trainer)
    trainer.args.rollout_weights = "policy"
    trainer.generation_config.cache_implementation = None
    trainer.generation_config.disable_compile = True
    assert rollout(trainer) == compiled


def test_a_config_without_the_rollout_fields_samples_with_the_policy_and_default_decoding():
    """TRL's GRPOConfig and the online self-training config have no rollout_weights / rollout_decoding fields."""
    from types import SimpleNamespace

    from reft_trl.trainers.mixed_precision_generation import MixedPrecisionGenerationMixin

    trainer = MixedPrecisionGenerationMixin()
    trainer.args = SimpleNamespace()
    assert (trainer._rollout_weights, trainer._rollout_decoding) == ("policy", "dynamic")
    assert trainer._rollout_pack_weights  # packed where the rollouts compute in bf16
    trainer.args = SimpleNamespace(rollout_weights="bf16_copy", rollout_decoding="static")
    assert (trainer._rollout_weights, trainer._rollout_decoding) == ("bf16_copy", "static")
