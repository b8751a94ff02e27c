"""Worker of `bench_ppo_step.py` for the TRL 1.12 venv: `trl.experimental.ppo.PPOTrainer` (the last TRL with PPO).

    .venv-trl112/bin/python benchmarks/ppo_step/worker_trl112.py RESULT.json --config CONFIG.json

Policy, reference (a deep copy of the policy, TRL's default), value model and reward model are all SmolLM2: the value
and reward models are the same weights with a fresh 1-label `LlamaForSequenceClassification` head. `PPOTrainer.train`
is one loop that calls `on_step_end` once per rollout; generation, reward-model scoring and the start of the PPO
epochs are found by wrapping the module-level `batch_generation`, `get_reward` and `forward` it calls.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time

from probe import (
    GENERATE,
    SCORE,
    PhaseTimer,
    RolloutClock,
    completion_length,
    read_json,
    rss_mb,
    start_result,
    touch_weights,
    write_result,
)

PAD_TOKEN = "<|endoftext|>"  # id 0: TRL 1.12 reads `pad_token_id` as "not a token", so it must differ from EOS


def run(result_path: str, config: dict) -> None:
    result = start_result("trl112")
    import torch
    import trl.experimental.ppo.ppo_trainer as ppo_module
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    result["rss_after_imports_mb"] = rss_mb()
    path = config["model_path"]
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    tokenizer.pad_token = PAD_TOKEN
    input_ids = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in config["prompt"]]
    dataset = Dataset.from_dict({"input_ids": input_ids})
    args = PPOConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-ppo-trl112-"),
        per_device_train_batch_size=config["batch"],
        gradient_accumulation_steps=1,
        num_mini_batches=1,
        num_ppo_epochs=config["ppo_epochs"],
        total_episodes=config["rollouts"] * config["batch"],
        response_length=config["response_length"],
        temperature=config["temperature"],
        stop_token=config["trl112_stop_token"],
        kl_coef=config["kl_coef"],
        learning_rate=config["learning_rate"],
        num_sample_generations=0,
        use_cpu=True,
        # PPOTrainer's own Accelerator reads ACCELERATE_MIXED_PRECISION (set by bench_ppo_step.worker_env), not this:
        # under transformers 5 `bf16` alone leaves it in fp32. bf16 autocasts only the PPO update's forwards.
        bf16=config.get("bf16", False),
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=config["seed"],
    )

    build_start = time.perf_counter()
    policy = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    value_model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=torch.float32)
    reward_model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=torch.float32)
    trainer = PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=None,
        reward_model=reward_model,
        train_dataset=dataset,
        value_model=value_model,
    )
    result["build_s"] = time.perf_counter() - build_start
    result["steps_per_rollout"] = 1
    result["completions_per_rollout"] = args.batch_size
    result["prompts_per_rollout"] = args.batch_size

    timer = PhaseTimer()
    eos_ids = {tokenizer.eos_token_id}
    batch_generation = ppo_module.batch_generation

    def timed_batch_generation(model, queries, *args, **kwargs):
        timer.rollout_begins()
        start = time.perf_counter()
        query_responses, logits = batch_generation(model, queries, *args, **kwargs)
        timer.seconds[GENERATE] += time.perf_counter() - start
        responses = query_responses[:, queries.shape[1] :]
        lengths = [completion_length(row.tolist(), eos_ids) for row in responses]
        timer.add_completions(lengths, responses.shape[1], queries.shape[1])
        return query_responses, logits

    forward = ppo_module.forward

    def forward_marking_updates(*args, **kwargs):
        if torch.is_grad_enabled():  # the first PPO update of this rollout
            timer.rollout_ends()
        return forward(*args, **kwargs)

    ppo_module.batch_generation = timed_batch_generation
    ppo_module.forward = forward_marking_updates
    ppo_module.get_reward = timer.timed(
        ppo_module.get_reward, lambda model, *args, **kwargs: SCORE if model is trainer.reward_model else None
    )
    clock = RolloutClock(timer, steps_per_rollout=1)
    trainer.add_callback(clock)

    touch_weights(trainer.model, trainer.ref_model, trainer.reward_model)
    gc.collect()
    result["rss_after_build_mb"] = rss_mb()
    train_start = time.perf_counter()
    trainer.train()
    result["train_s"] = time.perf_counter() - train_start
    result["rollouts"] = clock.rollouts
    write_result(result_path, result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result")
    parser.add_argument("--config", required=True)
    cli = parser.parse_args()
    run(cli.result, read_json(cli.config))


if __name__ == "__main__":
    sys.exit(main())
