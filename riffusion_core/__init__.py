"""Riffusion without Discord: spectrogram <-> audio conversion, audio I/O and generation."""

__version__ = "0.1.0"
