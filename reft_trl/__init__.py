"""reft-trl: ReFT (Reinforced Fine-Tuning) for math word problems on Hugging Face TRL."""

__version__ = "0.1.0"
