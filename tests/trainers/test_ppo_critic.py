"""The critic's options and the PPO loss's corrections: initialisation, precision, learning rate, warm-up, decoupled
GAE, the KL guard, refused GRPO options, importance-sampling weights, per-epoch reshuffling and bf16 rollouts."""

from __future__ import annotations

import copy

import pytest
import torch

from reft_trl.trainers.ppo_config import ReFTPPOConfig
from reft_trl.trainers.ppo_math import compute_gae, policy_loss
from reft_trl.trainers.ppo_trainer import ReFTPPOTrainer
from reft_trl.trainers.value_head import VALUE_HEAD_NAME, ValueHead
from tests.trainers.test_ppo_trainer import SMALL_VOCAB, arithmetic_prompts, logged, make_args
from tests.utils import tiny_llama


def always_one(completion_ids, **kwargs):
    return [1.0] * len(completion_ids)


def build(tokenizer, tmp_path, reward=always_one, **overrides):
    trainer = ReFTPPOTrainer(
        model=tiny_llama(SMALL_VOCAB),
        reward_funcs=reward,
        args=make_args(tmp_path, **overrides),
        train_dataset=arithmetic_prompts(32),
        processing_class=tokenizer,
    )
    trainer.current_gradient_accumulation_steps = 1  # set by `train()`; the tests call the loss directly
    return trainer


def head_of(trainer) -> ValueHead:
    return getattr(trainer.model, VALUE_HEAD_NAME)


def backbone_state(trainer) -> dict[str, torch.Tensor]:
    return {
        name: value.detach().clone()
        for name, value in trainer.model.state_dict().items()
        if not name.startswith(VALUE_HEAD_NAME)
    }


# ----------------------------------------------------------------------------------------------------------------
# The head itself


def test_value_head_starts_at_zero():
    head = ValueHead(8)
    assert torch.count_nonzero(head.weight) == 0 and torch.count_nonzero(head.bias) == 0
    assert torch.equal(head(torch.randn(2, 3, 8)), torch.zeros(2, 3))


def test_value_head_computes_in_float32_under_bf16_autocast():
    torch.manual_seed(0)
    head = ValueHead(64)
    torch.nn.init.normal_(head.weight)
    hidden = torch.randn(2, 5, 64).to(torch.bfloat16).float()  # exactly representable in bf16
    expected = hidden @ head.weight.squeeze(0) + head.bias
    with torch.autocast("cpu", dtype=torch.bfloat16):
        values = head(hidden)
        from_bf16_hidden = head(hidden.to(torch.bfloat16))
    assert values.dtype == torch.float32 and from_bf16_hidden.dtype == torch.float32
    torch.testing.assert_close(values, expected, rtol=1e-5, atol=1e-5)  # a bf16 matmul is off by ~1e-2 here
    torch.testing.assert_close(from_bf16_hidden, expected, rtol=1e-5, atol=1e-5)


def test_value_head_reads_checkpoints_of_the_nn_linear_layout():
    head = ValueHead(4)
    head.load_state_dict({"summary.weight": torch.ones(1, 4), "summary.bias": torch.full((1,), 2.0)})
    assert torch.equal(head.weight, torch.ones(1, 4)) and head.bias.item() == 2.0


def test_peft_all_linear_leaves_the_value_head_alone():
    """PEFT's "all-linear" wraps every nn.Linear but the LM head: a head built on one would get LoRA weights that its
    forward never reads (dead trainable parameters)."""
    from peft import LoraConfig, get_peft_model

    from reft_trl.trainers.value_head import attach_value_head

    model = tiny_llama(SMALL_VOCAB)
    attach_value_head(model)
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules="all-linear"))
    assert type(getattr(peft_model.get_base_model(), VALUE_HEAD_NAME)) is ValueHead
    lora = [name for name, _ in peft_model.named_parameters() if "lora_" in name]
    assert lora and not [name for name in lora if VALUE_HEAD_NAME in name]


def test_a_value_models_score_layer_computes_in_float32_under_bf16_autocast():
    from reft_trl.trainers.value_head import ValueModelCritic
    from tests.trainers.test_trl_ppo_compat import tiny_classifier

    critic = ValueModelCritic(tiny_classifier(seed=1))
    torch.nn.init.normal_(critic.head.weight)
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = critic.backbone(input_ids=ids).last_hidden_state
        values = critic(None, input_ids=ids)
    assert values.dtype == torch.float32
    exact = torch.nn.functional.linear(hidden.float(), critic.head.weight).squeeze(-1)
    torch.testing.assert_close(values, exact, rtol=1e-5, atol=1e-5)  # the bf16 backbone's output, read in float32


def test_heads_of_two_runs_with_the_same_seed_are_equal(tokenizer, tmp_path):
    first = build(tokenizer, tmp_path / "a", seed=3)
    torch.manual_seed(12345)  # whatever the global RNG holds before the constructor
    second = build(tokenizer, tmp_path / "b", seed=3)
    for a, b in zip(head_of(first).parameters(), head_of(second).parameters(), strict=True):
        assert torch.equal(a, b)


# ----------------------------------------------------------------------------------------------------------------
# Optimizer groups, warm-up, detached critic


def test_critic_learning_rate_gets_its_own_optimizer_group(tokenizer, tmp_path):
    trainer = build(tokenizer, tmp_path, learning_rate=1e-3, critic_learning_rate=5e-2)
    optimizer = trainer.create_optimizer()
    head_ids = {id(p) for p in head_of(trainer).parameters()}
    critic_groups = [g for g in optimizer.param_groups if any(id(p) in head_ids for p in g["params"])]
    assert critic_groups and all(g["lr"] == 5e-2 for g in critic_groups)
    assert all(id(p) in head_ids for g in critic_groups for p in g["params"])
    other = [g for g in optimizer.param_groups if all(g is not c for c in critic_groups)]
    assert other and all(g["lr"] == 1e-3 for g in other)
    n_params = sum(len(g["params"]) for g in optimizer.param_groups)
    assert n_params == sum(1 for p in trainer.model.parameters() if p.requires_grad)


def test_critic_warmup_trains_the_head_and_leaves_the_policy_untouched(tokenizer, tmp_path):
    trainer = build(tokenizer, tmp_path, critic_warmup_rollouts=1, max_steps=2, kl_coef=0.0)
    before = backbone_state(trainer)
    trainer.train()
    assert trainer.state.global_step == 2  # one rollout, two PPO epochs: both value-only
    for name, value in backbone_state(trainer).items():
        assert torch.equal(value, before[name]), name
    assert head_of(trainer).bias.item() != 0.0  # the returns are 1: the critic moved towards them


def test_after_the_critic_warmup_the_policy_trains(tokenizer, tmp_path):
    trainer = build(tokenizer, tmp_path, critic_warmup_rollouts=1, max_steps=4, kl_coef=0.0, reward=_random_score)
    before = backbone_state(trainer)
    trainer.train()
    assert any(not torch.equal(value, before[name]) for name, value in backbone_state(trainer).items())


def _random_score(completion_ids, **kwargs):
    return [float(sum(ids) % 3 == 0) for ids in completion_ids]


def test_detached_critic_does_not_move_the_backbone(tokenizer, tmp_path):
    trainer = build(tokenizer, tmp_path, critic_detach_backbone=True, max_steps=1)
    inputs = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    trainer.model.zero_grad()
    loss = trainer._compute_loss(trainer.model, inputs | {"advantages": torch.zeros_like(inputs["advantages"])})
    loss.backward()
    head_grads = [p.grad for p in head_of(trainer).parameters()]
    assert all(g is not None for g in head_grads)
    backbone_grads = [
        p.grad for n, p in trainer.model.named_parameters() if not n.startswith(VALUE_HEAD_NAME) and p.grad is not None
    ]
    assert all(torch.count_nonzero(g) == 0 for g in backbone_grads)


# ----------------------------------------------------------------------------------------------------------------
# Decoupled GAE


def test_decoupled_gae_against_hand_values():
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.25, 0.5]])
    mask = torch.ones(1, 3)
    advantages, returns = compute_gae(rewards, values, mask, gamma=1.0, lam=0.5)
    # deltas: 0 + 0.25 - 0.5 = -0.25; 0 + 0.5 - 0.25 = 0.25; 1 - 0.5 = 0.5
    # A_2 = 0.5; A_1 = 0.25 + 0.5 * 0.5 = 0.5; A_0 = -0.25 + 0.5 * 0.5 = 0.0
    torch.testing.assert_close(advantages, torch.tensor([[0.0, 0.5, 0.5]]))
    _, critic_returns = compute_gae(rewards, values, mask, gamma=1.0, lam=1.0)
    torch.testing.assert_close(critic_returns, torch.tensor([[1.0, 1.0, 1.0]]))  # Monte-Carlo returns


def test_trainer_uses_critic_lam_for_the_returns_and_lam_for_the_advantages(tokenizer, tmp_path):
    trainer = build(tokenizer, tmp_path, lam=0.5, critic_lam=1.0, kl_coef=0.0, whiten_advantages=False)
    torch.nn.init.constant_(head_of(trainer).bias, 0.25)  # V = 0.25 everywhere
    batch = trainer._generate_and_score_completions(list(arithmetic_prompts(8)))
    mask = batch["completion_mask"].bool()
    torch.testing.assert_close(batch["returns"][mask], torch.ones(int(mask.sum())))  # MC returns of a score of 1
    expected, _ = compute_gae(batch["returns"] * 0 + _last_token_reward(mask), batch["old_values"], mask, 1.0, 0.5)
    torch.testing.assert_close(batch["advantages"], expected)


def _last_token_reward(mask):
    positions = torch.arange(mask.shape[1])
    last = torch.where(mask, positions, -1).amax(dim=1, keepdim=True)
    return (positions == last).float()


# ----------------------------------------------------------------------------------------------------------------
# Guard, refused options, importance sampling, reshuffling


def test_kl_guard_stops_training_without_training_on_the_rollout_that_passed_the_limit(tokenizer, tmp_path):
    trainer = build(tokenizer, tmp_path, max_steps=40, max_sequence_kl=1e-9, learning_rate=5e-2)
    sampled_by = {}  # the weights of the policy that sampled the latest rollout
    rollout = trainer._generate_and_score_completions

    def recording_rollout(inputs):
        sampled_by.update({name: p.detach().clone() for name, p in trainer.model.named_parameters()})
        return rollout(inputs)

    trainer._generate_and_score_completions = recording_rollout
    trainer.train()
    kls = logged(trainer, "objective/kl")
    assert kls[0] == 0.0 and kls[-1] > 1e-9  # policy == reference at first, then past the limit
    assert trainer.state.global_step < 40
    # no optimizer step after the guard fired: the model kept is the policy that sampled the last rollout
    assert all(torch.equal(p, sampled_by[name]) for name, p in trainer.model.named_parameters())


def test_truncated_completions_masked_out_weigh_nothing_in_the_ppo_loss(tokenizer, tmp_path):
    # A random output head with a random EOS row: some completions end within 8 tokens, the others are cut
    model = tiny_llama(SMALL_VOCAB, tie_word_embeddings=False)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        model.lm_head.weight[tokenizer.eos_token_id] = torch.randn(model.config.hidden_size, generator=generator)
    trainer = ReFTPPOTrainer(
        model=model,
        reward_funcs=always_one,
        args=make_args(tmp_path, mask_truncated_completions=True, kl_coef=0.05),
        train_dataset=arithmetic_prompts(32),
        processing_class=tokenizer,
    )
    trainer.current_gradient_accumulation_steps = 1
    inputs = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    cut = inputs["completion_mask"].sum(dim=1) == 0
    assert cut.any() and not cut.all()
    for key in ("advantages", "returns", "old_values"):
        assert torch.all(inputs[key][cut] == 0), key
    rows = cut.size(0)
    kept = {
        key: value[~cut] if isinstance(value, torch.Tensor) and value.dim() > 0 and value.size(0) == rows else value
        for key, value in inputs.items()
    }
    # the same loss without the cut completions: they count in neither the policy, the value nor the entropy term
    assert torch.allclose(trainer._compute_loss(trainer.model, kept), trainer._compute_loss(trainer.model, inputs))


@pytest.mark.parametrize(
    "option",
    [
        {"loss_type": "grpo"},
        {"epsilon_high": 0.28},
        {"delta": 2.0},
        {"top_entropy_quantile": 0.2},
        {"importance_sampling_level": "sequence"},
        {"scale_rewards": "batch"},
        {"off_policy_mask_threshold": 0.5},
        {"use_adaptive_entropy": True},
        {"multi_objective_aggregation": "normalize_then_sum"},
        {"use_liger_kernel": True},
        {"sync_ref_model": True},
        {"router_aux_loss_coef": 0.01},
    ],
)
def test_grpo_options_the_ppo_loss_ignores_are_refused(tmp_path, option):
    name = next(iter(option))
    with pytest.raises(ValueError, match=rf"ReFTPPOConfig does not use these GRPOConfig options: {name}="):
        make_args(tmp_path, **option)


def test_grpo_spellings_of_the_defaults_are_accepted(tmp_path):
    args = make_args(tmp_path, scale_rewards=True, router_aux_loss_coef=0.0)  # TRL's "group"; the aux loss off
    assert args.scale_rewards == "group" and args.router_aux_loss_coef == 0.0


def test_a_mixture_of_experts_whose_config_adds_a_load_balancing_loss_is_refused(tokenizer, tmp_path):
    from transformers import MixtralConfig, MixtralForCausalLM

    config = MixtralConfig(vocab_size=SMALL_VOCAB, hidden_size=16, intermediate_size=16, num_hidden_layers=1,
                           num_attention_heads=2, num_key_value_heads=1, num_local_experts=2, num_experts_per_tok=1,
                           router_aux_loss_coef=0.02)  # fmt: skip
    moe = MixtralForCausalLM(config)
    kwargs = dict(reward_funcs=always_one, train_dataset=arithmetic_prompts(4), processing_class=tokenizer)
    with pytest.raises(
        ValueError,
        match=r"MixtralForCausalLM is a Mixture-of-Experts .*router_aux_loss_coef=0.02.*ReFTPPOTrainer.*=0.0 in ReFTPPOConfig",
    ):
        ReFTPPOTrainer(model=moe, args=make_args(tmp_path), **kwargs)  # None takes the model config's coefficient
    trainer = ReFTPPOTrainer(model=moe, args=make_args(tmp_path, router_aux_loss_coef=0.0), **kwargs)
    assert trainer.aux_loss_enabled is False  # TRL agrees: no auxiliary loss to drop


def test_critic_options_are_validated(tmp_path):
    for bad in ({"critic_lam": 1.5}, {"critic_warmup_rollouts": -1}, {"max_sequence_kl": 0.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            make_args(tmp_path, **bad)


def test_missing_eos_penalty_with_masked_truncated_completions_is_refused(tmp_path):
    with pytest.raises(ValueError, match="missing_eos_penalty=0.5 with mask_truncated_completions=True"):
        make_args(tmp_path, missing_eos_penalty=0.5, mask_truncated_completions=True)
    make_args(tmp_path, missing_eos_penalty=0.5)  # each alone is fine
    make_args(tmp_path, mask_truncated_completions=True)


def test_importance_sampling_weights_scale_the_policy_loss():
    logps = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    advantages = torch.tensor([[1.0, -1.0]])
    mask = torch.ones(1, 2)
    plain, _ = policy_loss(logps, logps.detach(), advantages, mask)
    weighted, _ = policy_loss(logps, logps.detach(), advantages, mask, weights=torch.tensor([[0.5, 2.0]]))
    torch.testing.assert_close(plain, torch.tensor(0.0))  # (-1 + 1) / 2
    torch.testing.assert_close(weighted, torch.tensor((-0.5 + 2.0) / 2))


def test_trainer_applies_the_importance_sampling_ratio(tokenizer, tmp_path):
    trainer = build(tokenizer, tmp_path, reward=_random_score)
    inputs = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    inputs["advantages"] = torch.ones_like(inputs["advantages"])
    plain = trainer._compute_loss(trainer.model, inputs)
    halved = trainer._compute_loss(trainer.model, inputs | {"importance_sampling_ratio": torch.full((8, 1), 0.5)})
    policy = [entry for entry in trainer._metrics["train"]["losses/policy_loss"]]
    assert policy[-1] == pytest.approx(0.5 * policy[-2], rel=1e-5)
    assert not torch.equal(plain, halved)


def test_each_ppo_epoch_reshuffles_the_mini_batches(tokenizer, tmp_path):
    trainer = build(tokenizer, tmp_path, num_mini_batches=4, per_device_train_batch_size=2, num_ppo_epochs=2)
    trainer.model.train()
    dataloader_batch = next(iter(trainer.get_train_dataloader()))
    torch.manual_seed(0)
    epochs = []
    for step in range(8):
        trainer._step = step
        epochs.append(trainer._prepare_inputs(dataloader_batch)["completion_ids"].tolist())
    first, second = epochs[:4], epochs[4:]
    rows = lambda mini_batches: sorted(row for batch in mini_batches for row in batch)  # noqa: E731
    assert rows(first) == rows(second)  # the same rollout ...
    assert first != second  # ... in new mini-batches


# ----------------------------------------------------------------------------------------------------------------
# bf16 mixed precision


@pytest.mark.parametrize("scoring", ["logits", "fused"])
def test_bf16_first_ratio_is_one_and_kl_is_zero_when_policy_is_the_reference(tokenizer, tmp_path, scoring):
    trainer = build(tokenizer, tmp_path, bf16=True, kl_coef=0.05, reward=_random_score, lm_head_scoring=scoring)
    assert trainer.accelerator.mixed_precision == "bf16"
    inputs = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    assert logged_metric(trainer, "objective/kl") == 0.0
    trainer._compute_loss(trainer.model, inputs)
    assert logged_metric(trainer, "losses/approx_kl") == 0.0
    assert logged_metric(trainer, "losses/clipfrac") == 0.0
    logps, _, _ = trainer._policy_logps_and_values(
        trainer.model,
        torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1),
        torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1),
        inputs["completion_ids"].size(1),
    )
    assert torch.equal(logps, inputs["old_per_token_logps"])  # ratio exactly 1


def logged_metric(trainer, key):
    return trainer._metrics["train"][key][-1]


def test_bf16_config_default_follows_the_processor(tmp_path, monkeypatch):
    import reft_trl.precision as precision

    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: False)
    assert make_args(tmp_path, bf16=None).bf16 is False
    monkeypatch.setattr(precision, "cpu_supports_bf16", lambda: True)
    assert make_args(tmp_path, bf16=None).bf16 is True
    assert make_args(tmp_path, bf16=False).bf16 is False


def test_bf16_keeps_float32_weights_in_policy_and_reference(tokenizer, tmp_path):
    trainer = build(tokenizer, tmp_path, bf16=True, kl_coef=0.05)
    assert trainer.ref_model is not None
    reference = copy.deepcopy(trainer.ref_model)
    assert all(p.dtype == torch.float32 for p in reference.parameters())  # weights stay fp32; compute is bf16


def test_a_machine_without_accelerator_trains_on_the_cpu_without_being_told(tmp_path, monkeypatch):
    import reft_trl.precision as precision

    monkeypatch.setattr(precision, "accelerator_available", lambda: False)
    config = ReFTPPOConfig(output_dir=str(tmp_path), report_to="none")  # no use_cpu, no bf16
    assert config.use_cpu is True
    assert config.bf16 is precision.cpu_supports_bf16()


def test_critic_warmup_counts_rollouts_under_gradient_accumulation(tokenizer, tmp_path):
    # 2 micro-batches per optimizer step, 2 PPO epochs: one rollout is 2 optimizer steps, so step 3 trains the policy
    trainer = build(
        tokenizer, tmp_path, critic_warmup_rollouts=1, gradient_accumulation_steps=2, per_device_train_batch_size=4,
        max_steps=4, kl_coef=0.0, reward=_random_score,
    )  # fmt: skip
    before = backbone_state(trainer)
    trainer.train()
    assert any(not torch.equal(value, before[name]) for name, value in backbone_state(trainer).items())


def test_an_evaluation_does_not_replace_the_rollout_being_trained_on(tokenizer, tmp_path):
    trainer = build(tokenizer, tmp_path)
    trainer.model.train()
    trainer._generate_and_score_completions(list(arithmetic_prompts(8)))
    training_rollout = trainer._rollout_batch
    trainer.model.eval()
    trainer._generate_and_score_completions(list(arithmetic_prompts(4)))
    assert trainer._rollout_batch is training_rollout


def test_critic_warmup_lets_ddp_find_the_unused_backbone(tmp_path):
    assert make_args(tmp_path, critic_warmup_rollouts=2).ddp_find_unused_parameters is True
    assert make_args(tmp_path).ddp_find_unused_parameters is None


def test_num_mini_batches_that_steps_per_generation_would_override_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"num_mini_batches=4 with steps_per_generation=2 "):
        make_args(tmp_path, num_mini_batches=4, steps_per_generation=2)
    with pytest.raises(
        ValueError, match=r"num_mini_batches=2 with generation_batch_size=8 \(steps_per_generation 1\)"
    ):
        make_args(tmp_path, num_mini_batches=2, generation_batch_size=8)  # 8 rows per device: one step
    assert make_args(tmp_path, num_mini_batches=2, generation_batch_size=16).steps_per_generation == 2  # agreeing
    assert make_args(tmp_path, num_mini_batches=4, steps_per_generation=4).steps_per_generation == 4  # agreeing
    assert make_args(tmp_path, steps_per_generation=3).steps_per_generation == 3  # num_mini_batches left at 1
