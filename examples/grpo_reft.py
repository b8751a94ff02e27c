# /// script
# dependencies = [
#     "reft-trl",
#     "trl>=1.16,<1.17",
#     "peft",
# ]
# ///
"""The critic-free alternative to ReFT's PPO stage: TRL's own `GRPOTrainer` with the ReFT answer reward.

GRPO samples `num_generations` reasoning paths per question and uses their mean reward as the baseline, where ReFT's
PPO samples one path and learns a critic. Everything else is shared with `examples/ppo_reft.py`: the warm-up
checkpoint to start from, the training questions (`reft_trl.data.load_task`) and the reward
(`reft_trl.rewards.get_reward`, logged as `rewards/answer_match/mean`).

Usage:

```bash
accelerate launch --config_file recipes/accelerate/zero2.yaml examples/grpo_reft.py \
    --config recipes/gsm8k/codellama-7b/ncot/grpo.yaml \
    --model_name_or_path outputs/gsm8k-codellama-7b-ncot-sft/checkpoint-<step>

# CPU, a few steps
python examples/grpo_reft.py --config recipes/demo/smollm2-135m/svamp/ncot/grpo.yaml \
    --model_name_or_path <model folder> --max_steps 2
```
"""

from reft_trl.scripts.grpo import main, make_parser

if __name__ == "__main__":
    parser = make_parser()
    script_args, training_args, model_args = parser.parse_args_and_config()
    main(script_args, training_args, model_args)
