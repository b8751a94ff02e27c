# /// script
# dependencies = [
#     "reft-trl",
#     "trl>=1.16,<1.17",
#     "peft",
# ]
# ///
"""Offline self-training baseline (the ReFT paper's Offline-ST): sample 100 solutions per training question from the
warm-up checkpoint, keep up to 10 correct distinct ones beside the gold chain of thought, and fine-tune the base model
on that set.

Usage:

```bash
accelerate launch --config_file recipes/accelerate/zero2.yaml examples/offline_self_training.py \
    --config recipes/gsm8k/codellama-7b/ncot/offline_st.yaml \
    --warmup_model outputs/gsm8k-codellama-7b-ncot-sft/checkpoint-<epoch 2>

# CPU, on the embedded model (base) and its warm-up
python examples/offline_self_training.py --config recipes/demo/smollm2-135m/svamp/ncot/offline_st.yaml \
    --warmup_model outputs/demo/sft
```
"""

from reft_trl.scripts.offline_st import main, make_parser

if __name__ == "__main__":
    parser = make_parser()
    script_args, self_training_args, training_args, model_args = parser.parse_args_and_config()
    main(script_args, self_training_args, training_args, model_args)
