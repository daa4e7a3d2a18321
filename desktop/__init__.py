"""Duet: base and instruct GGUF models, side by side, offline."""

__version__ = "0.1.0"
