"""`SkipTrlRolloutLogpsMixin`: TRL's rollout asks for the policy's old log-probs, and gets None without a forward,
in the trainers that never read them."""

from __future__ import annotations

from reft_trl import ReFTPPOTrainer
from reft_trl.trainers.online_self_training_trainer import OnlineSelfTrainingTrainer
from tests.trainers.test_online_self_training import make_trainer as make_online_st_trainer
from tests.trainers.test_online_self_training import rows
from tests.trainers.test_ppo_trainer import SMALL_VOCAB, arithmetic_prompts, digit_share, make_args
from tests.utils import record_scoring, tiny_llama


def test_online_self_trainings_rollout_runs_no_policy_forward_for_old_logps(tokenizer, tmp_path, monkeypatch):
    trainer = make_online_st_trainer(tokenizer, tmp_path)  # 2 passes over each rollout: TRL asks for old log π
    asked, ran = record_scoring(monkeypatch, OnlineSelfTrainingTrainer)
    trainer.model.train()
    batch = trainer._generate_and_score_completions([rows()[i] for i in range(4)])
    # TRL still asks (else the skip is dead code: drop it); its forward never runs, and the batch has no old log π
    assert asked == [trainer.model] and ran == [] and "old_per_token_logps" not in batch
    assert not trainer._skip_trl_rollout_logps
    # The loss's own forward is TRL's scoring, run as usual
    trainer.model.eval()
    trainer.compute_loss(trainer.model, batch)
    assert ran == [trainer.model]


def test_trl_computes_its_own_rollout_logps_only_for_vllm_importance_sampling(tokenizer, tmp_path):
    trainer = ReFTPPOTrainer(
        model=tiny_llama(SMALL_VOCAB), reward_funcs=digit_share, args=make_args(tmp_path, kl_coef=0.0),
        train_dataset=arithmetic_prompts(), processing_class=tokenizer,
    )  # fmt: skip
    assert not trainer._trl_needs_its_old_logps()
    trainer.use_vllm, trainer.vllm_importance_sampling_correction = True, True
    assert trainer._trl_needs_its_old_logps()
    trainer.vllm_importance_sampling_correction = False
    assert not trainer._trl_needs_its_old_logps()
