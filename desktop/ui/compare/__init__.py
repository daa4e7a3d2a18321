"""The compare window (window) and its columns (column): one input through two or three models."""
