"""PEFT with ReFTPPOTrainer: the value head trains beside the adapter, and the reference is the warm-up model."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model

from reft_trl.trainers.ppo_trainer import ReFTPPOTrainer
from tests.trainers.test_ppo_trainer import SMALL_VOCAB, arithmetic_prompts, digit_share, logged, make_args
from tests.utils import tiny_llama

LORA = dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)


def test_new_adapter_trains_with_value_head_and_base_stays_frozen(tokenizer, tmp_path):
    trainer = ReFTPPOTrainer(
        model=tiny_llama(SMALL_VOCAB),
        reward_funcs=digit_share,
        args=make_args(tmp_path, kl_coef=0.05),
        train_dataset=arithmetic_prompts(),
        processing_class=tokenizer,
        peft_config=LoraConfig(**LORA),
    )
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    changed = {name for name, p in trainer.model.named_parameters() if not torch.equal(before[name], p)}
    assert any("lora_" in name for name in changed)
    assert any("v_head" in name for name in changed)
    assert all("lora_" in name or "v_head" in name for name in changed), changed
    # A fresh adapter starts as the identity, so the base model (adapters off) is the warm-up: KL starts at 0
    assert logged(trainer, "objective/kl")[0] == pytest.approx(0.0, abs=1e-6)
    assert trainer.ref_model is None


def test_warmup_adapter_is_the_reference_not_the_base_model(tokenizer, tmp_path):
    """When the warm-up itself lives in an adapter, disabling adapters would give the wrong reference."""
    model = get_peft_model(tiny_llama(SMALL_VOCAB), LoraConfig(**LORA))
    with torch.no_grad():  # a trained warm-up adapter: non-zero B
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    trainer = ReFTPPOTrainer(
        model=model,
        reward_funcs=digit_share,
        args=make_args(tmp_path, kl_coef=0.05),
        train_dataset=arithmetic_prompts(),
        processing_class=tokenizer,
    )
    reference_before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if ".ref." in n}
    assert reference_before
    trainer.train()
    assert logged(trainer, "objective/kl")[0] == pytest.approx(0.0, abs=1e-6)
    for name, param in trainer.model.named_parameters():
        if ".ref." in name:
            assert torch.equal(param, reference_before[name]), name

    # The base model differs from the warm-up: using it as the reference would have shown a KL at step 0
    batch = tokenizer(["1+2=345"], return_tensors="pt")
    with torch.no_grad():
        warmup_logits = trainer.model(**batch).logits
        with trainer.model.disable_adapter():
            base_logits = trainer.model(**batch).logits
    assert not torch.allclose(warmup_logits, base_logits)
