"""The reward functions a trainer on TRL's `GRPOTrainer` (PPO, online self-training) scores rollouts with: those it is
given, or the answer reward of the config's task."""

from __future__ import annotations


def default_reward_funcs(args, reward_funcs, reward_model=None) -> list:
    """`reward_funcs` as a list (plus `reward_model`, scored last); with neither, `get_reward(args.task, args.cot)`."""
    funcs = [] if reward_funcs is None else list(reward_funcs) if isinstance(reward_funcs, list) else [reward_funcs]
    if not funcs and reward_model is None:
        if args.task is None:
            raise ValueError(
                "Give `reward_funcs` (or `reward_model`), or set `task` in ReFTPPOConfig for the default."
            )
        from reft_trl.rewards import get_reward

        funcs = [get_reward(args.task, args.cot)]
    if reward_model is not None:
        funcs.append(reward_model)
    return funcs
