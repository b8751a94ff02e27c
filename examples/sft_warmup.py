# /// script
# dependencies = [
#     "reft-trl",
#     "trl>=1.16",
#     "peft",
# ]
# ///

"""
ReFT stage 1: SFT warm-up on (question, chain of thought) pairs. The model saved in `output_dir` (by default the
epoch-2 model of the paper's 40-epoch schedule; `--stop_after_epoch` picks another) is the starting policy and the KL
reference of the PPO stage.

# The paper's settings (8 GPUs x 3 rows x 2 accumulation steps), N-CoT on GSM8K
```bash
accelerate launch --num_processes 8 examples/sft_warmup.py \
    --model_name_or_path path/to/galactica-6.7b \
    --task gsm8k \
    --cot ncot \
    --output_dir sft-gsm8k-ncot-galactica
```

# A recipe, with command-line overrides
```bash
python examples/sft_warmup.py --config recipes/svamp/galactica-6.7b/pcot/sft.yaml --learning_rate 2e-5
```

# LoRA, the full 40-epoch SFT baseline (every epoch saved; the warm-up is the epoch-2 checkpoint)
```bash
python examples/sft_warmup.py \
    --model_name_or_path path/to/CodeLlama-7b-hf \
    --task svamp \
    --cot pcot \
    --stop_after_epoch none \
    --use_peft \
    --lora_r 16 \
    --lora_alpha 32 \
    --output_dir sft-svamp-pcot-codellama
```
"""

from reft_trl.scripts.sft import main, make_parser

if __name__ == "__main__":
    parser = make_parser()
    script_args, training_args, model_args = parser.parse_args_and_config()
    main(script_args, training_args, model_args)
