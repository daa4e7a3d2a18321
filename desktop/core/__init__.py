"""Duet's Qt-free core: catalog, model files, prompts and the engine.

Nothing in this package imports Qt, and nothing outside `desktop.core.engine.local.worker` imports
llama_cpp: the window process never loads llama.cpp, only the engine's worker processes do.
"""
