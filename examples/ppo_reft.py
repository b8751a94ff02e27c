# /// script
# dependencies = [
#     "reft-trl",
#     "trl>=1.16,<1.17",
#     "peft",
# ]
# ///
"""ReFT stage 2: PPO from the warm-up (SFT) checkpoint, with the programmatic answer reward.

Usage:

```bash
accelerate launch --config_file recipes/accelerate/zero2.yaml examples/ppo_reft.py \
    --config recipes/gsm8k/codellama-7b/ncot/ppo.yaml \
    --model_name_or_path outputs/gsm8k-codellama-7b-ncot-sft/checkpoint-<epoch 2>

# CPU, two processes (gloo), a few steps. `--multi_gpu` makes accelerate start one process per rank; with `--cpu`
# accelerate 1.15 starts a single process unless MPI is set up.
accelerate launch --multi_gpu --num_processes 2 examples/ppo_reft.py --use_cpu --config recipes/demo/smollm2-135m/svamp/ncot/ppo.yaml \
    --max_steps 2
```
"""

from reft_trl.scripts.ppo import main, make_parser

if __name__ == "__main__":
    parser = make_parser()
    script_args, training_args, model_args = parser.parse_args_and_config()
    main(script_args, training_args, model_args)
