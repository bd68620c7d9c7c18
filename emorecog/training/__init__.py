"""emorecog.training: the training loop (`run_training`), its callbacks and the distribution strategy."""
