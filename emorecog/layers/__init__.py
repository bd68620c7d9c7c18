"""emorecog.layers"""
