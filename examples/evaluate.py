# /// script
# dependencies = [
#     "reft-trl",
#     "trl>=1.16,<1.17",
# ]
# ///
"""
Evaluate a warm-up (SFT) or ReFT checkpoint on a test set, as in the paper: greedy accuracy, majority voting over k
samples, pass@k, or reranking k samples with a trained verifier. Writes `<run>.predictions.jsonl` (one line per
question, as it finishes) and `<run>.summary.json` to `--output_dir`, and prints a summary table.

# Greedy (top-1) accuracy, the paper's main number
```bash
python examples/evaluate.py --model_name_or_path reft-gsm8k-ncot --task gsm8k --cot ncot --output_dir eval
```

# Majority voting over 100 samples at temperature 1.0 (P-CoT prompts end with the program's opening line)
```bash
python examples/evaluate.py --model_name_or_path reft-svamp-pcot --task svamp --cot pcot --mode voting --k 100
```

# pass@8 estimated from 32 samples per question
```bash
python examples/evaluate.py --model_name_or_path sft-gsm8k-ncot --task gsm8k --mode pass@k --k 8 --num_samples 32
```

# Reranking 100 samples with a verifier trained by `reft_trl.evaluation.train_verifier`
```bash
python examples/evaluate.py --model_name_or_path reft-gsm8k-ncot --task gsm8k --mode rerank --k 100 \
    --verifier_path verifier-gsm8k-ncot
```

# A YAML config with command-line overrides
```bash
python examples/evaluate.py --config eval.yaml --limit 50
```
"""

from reft_trl.scripts.evaluate import main, make_parser

if __name__ == "__main__":
    parser = make_parser()
    (eval_args,) = parser.parse_args_and_config()
    main(eval_args)
