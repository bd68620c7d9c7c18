"""TFX-style components (installed as emorecog.components): ExampleGen, Trainer, Evaluator, Pusher."""
