"""emorecog.models"""
