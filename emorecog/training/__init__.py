"""emorecog.training"""
