"""emorecog.datasets"""
