"""emorecog: emotion recognition from face video and EEG recorded together (Wu et al., IEEE Access 2020).

Importing this package is cheap: TensorFlow, MediaPipe and Beam are imported by the modules that need
them, so `emorecog --help` and the DEAP reader answer without loading TensorFlow.
"""

__version__ = "0.1.0"
