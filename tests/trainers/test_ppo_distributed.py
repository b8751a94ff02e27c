"""Two CPU processes through `accelerate launch`: rewards are gathered and advantages whitened across ranks; the critic
warm-up's value-only updates (the backbone without gradients) go through DDP and leave the policy untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from reft_trl.trainers.checkpoints import missing_files
from tests.utils import tiny_llama

ROOT = Path(__file__).resolve().parents[2]


def test_two_process_ppo_run(tokenizer, tmp_path):
    model_dir = tmp_path / "tiny"
    tiny_llama(len(tokenizer)).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    output_dir = tmp_path / "out"
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        str(ROOT / "examples" / "ppo_reft.py"),
        "--task", "svamp", "--model_name_or_path", str(model_dir), "--output_dir", str(output_dir),
        "--train_limit", "16", "--per_device_train_batch_size", "2", "--max_completion_length", "12",
        "--max_steps", "4", "--logging_steps", "1", "--use_cpu", "--bf16", "false",
        "--gradient_checkpointing", "false", "--report_to", "none", "--save_strategy", "steps", "--save_steps", "2",
        "--critic_warmup_rollouts", "1", "--missing_eos_penalty", "1.0",  # unfinished answers score -1: a signal
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "ReFT PPO on 2 process(es)" in result.stdout

    history = json.loads((output_dir / "checkpoint-4" / "trainer_state.json").read_text())["log_history"]
    rollouts = [entry for entry in history if "objective/kl" in entry]
    assert len(rollouts) == 2  # 4 steps, 2 PPO epochs per rollout
    updates = [entry for entry in history if "losses/value_loss" in entry]
    assert len(updates) == 4
    assert (output_dir / "value_head.safetensors").is_file()
    # the checkpoint was staged by both processes and renamed once, whole, by the main one
    assert missing_files(output_dir / "checkpoint-4", required=("value_head.safetensors",)) == []
    assert not list(output_dir.glob(".checkpoint-*.tmp"))
    # rollout 1 (steps 1-2) trained the critic alone: the policy is the warm-up's; rollout 2 trained it
    critic = load_file(output_dir / "checkpoint-2" / "value_head.safetensors")
    assert any(tensor.abs().sum() > 0 for name, tensor in critic.items() if name.endswith("weight"))  # zero-init
    initial = load_file(model_dir / "model.safetensors")
    for step, policy_trained in ((2, False), (4, True)):
        saved = load_file(output_dir / f"checkpoint-{step}" / "model.safetensors")
        policy = [name for name in initial if not name.startswith("v_head")]
        changed = [name for name in policy if not torch.equal(saved[name], initial[name])]
        assert bool(changed) == policy_trained, (step, changed[:3])
