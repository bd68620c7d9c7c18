"""emorecog.serving"""
