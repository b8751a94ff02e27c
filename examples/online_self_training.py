# /// script
# dependencies = [
#     "reft-trl",
#     "trl>=1.16,<1.17",
#     "peft",
# ]
# ///
"""Online self-training baseline (the ReFT paper's Online-ST): ReFT's sampling loop, cross-entropy on the correct
samples and on the gold chains of thought (half each), no KL, no critic. Starts from the warm-up checkpoint.

Usage:

```bash
accelerate launch --config_file recipes/accelerate/zero2.yaml examples/online_self_training.py \
    --config recipes/gsm8k/codellama-7b/ncot/online_st.yaml \
    --model_name_or_path outputs/gsm8k-codellama-7b-ncot-sft/checkpoint-<epoch 2>

# CPU, a few steps on the embedded model's warm-up
python examples/online_self_training.py --config recipes/demo/smollm2-135m/svamp/ncot/online_st.yaml \
    --model_name_or_path outputs/demo/sft --max_steps 2
```
"""

from reft_trl.scripts.online_st import main, make_parser

if __name__ == "__main__":
    parser = make_parser()
    script_args, training_args, model_args = parser.parse_args_and_config()
    main(script_args, training_args, model_args)
