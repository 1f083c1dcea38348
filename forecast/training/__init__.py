"""Training and fine-tuning of GraphCast checkpoints."""
