"""reft-trl: ReFT (Reinforced Fine-Tuning, Luong et al., ACL 2024) for math word problems on Hugging Face TRL.

The public API. Names are imported on first use, so `import reft_trl` stays light (sandbox workers import it).
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    # trainers
    "ReFTPPOConfig": "reft_trl.trainers.ppo_config",
    "ReFTPPOTrainer": "reft_trl.trainers.ppo_trainer",
    "ReFTSFTConfig": "reft_trl.trainers.sft_config",
    "ReFTSFTTrainer": "reft_trl.trainers.sft_trainer",
    "checkpoint_for_epoch": "reft_trl.trainers.sft_trainer",
    "OnlineSelfTrainingConfig": "reft_trl.trainers.online_self_training_config",
    "OnlineSelfTrainingTrainer": "reft_trl.trainers.online_self_training_trainer",
    "build_offline_self_training_dataset": "reft_trl.trainers.offline_self_training",
    "PPOConfig": "reft_trl.trainers.trl_ppo_compat",
    "PPOTrainer": "reft_trl.trainers.trl_ppo_compat",
    # rewards
    "AnswerMatchReward": "reft_trl.rewards",
    "extract_answer": "reft_trl.rewards",
    "answers_match": "reft_trl.rewards",
    "get_reward": "reft_trl.rewards",
    "register_reward": "reft_trl.rewards",
    "run_program": "reft_trl.rewards",
    "run_programs": "reft_trl.rewards",
    # data
    "load_task": "reft_trl.data",
    "DataFormatError": "reft_trl.data",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'reft_trl' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
