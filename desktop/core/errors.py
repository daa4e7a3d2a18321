"""One error hierarchy. Every message is written for the person using Duet: it says what went
wrong in plain words and, where there is one, the next step. The CLI prints `str(error)` as is."""

from __future__ import annotations


class DuetError(Exception):
    """Base of every error Duet expects and explains."""


class CatalogError(DuetError):
    """models.toml is malformed: the message names the file, line and key."""


class ModelNotFound(DuetError):
    """A model name or path that matches nothing installed."""


class ModelLoadError(DuetError):
    """A model file that cannot be used: not GGUF, truncated, empty, or refused by llama.cpp."""


class StarterUnavailable(DuetError):
    """The offline starter models are not installed in this environment."""


class TemplateError(DuetError):
    """A chat template that does not parse or raises while rendering."""


class InvalidPrompt(DuetError):
    """A prompt the model cannot take: empty, or unusable as given."""


class PromptTooLong(InvalidPrompt):
    """The prompt does not fit the model's context window."""


class InvalidSettings(DuetError):
    """A sampling or engine setting outside its allowed range."""


class EngineError(DuetError):
    """The engine worker reported a failure it survived."""


class EngineCrashed(EngineError):
    """The engine worker process died; the next request starts a new one."""
