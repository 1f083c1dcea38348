"""GraphCast: our own JAX/Haiku implementation that loads DeepMind's official checkpoints."""
