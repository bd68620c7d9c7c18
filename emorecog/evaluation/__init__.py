"""emorecog.evaluation: metrics against the majority baseline, the blessing rule, and plots.

The Evaluator component (`emorecog.components.evaluator`) runs a trained model on a split and calls these.
"""
