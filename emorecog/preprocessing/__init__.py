"""emorecog.preprocessing"""
