"""The command-line stages (SFT, PPO, GRPO, evaluation, the demo), shared by `examples/` and the `reft-trl` command."""
