"""ReFT's two training stages on TRL: SFT warm-up and PPO with a critic."""
