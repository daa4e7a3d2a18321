"""One error hierarchy. Every message is written for the person using Duet: it says what went
wrong in plain words and, where there is one, the next step. The CLI prints `str(error)` as is.

Errors carry their data as attributes (the exit code of a crashed worker, the sizes of a prompt
that does not fit, the server that refused) and survive pickling with it, as huggingface_hub's
errors do: a worker process sends the error itself across its pipe, not a class name.
"""

from __future__ import annotations

from typing import Any


def _rebuilt(cls: type[DuetError], args: tuple[Any, ...], data: dict[str, Any]) -> DuetError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(data)
    return error


class DuetError(Exception):
    """Base of every error Duet expects and explains."""

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickles only `args` and calls __init__ with them: the keyword data of a
        # subclass would be lost, or __init__ would fail on the other side.
        return (_rebuilt, (type(self), self.args, dict(self.__dict__)))


class UnexpectedError(DuetError):
    """A failure nobody foresaw (a bug), caught where work crosses a thread boundary so it
    shows as an error with its text, never as a view stuck "busy"."""

    @classmethod
    def wrapping(cls, exc: BaseException) -> UnexpectedError:
        return cls(
            f"Something unexpected went wrong ({type(exc).__name__}: {exc}). Nothing you wrote "
            "is lost: try again, and if it happens again, please report this message."
        )


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

    def __init__(self, message: str, tokens: int | None = None, n_ctx: int | None = None) -> None:
        super().__init__(message)
        self.tokens, self.n_ctx = tokens, n_ctx


class ContextOverflow(InvalidPrompt):
    """A conversation that no longer fits the context under the chosen overflow policy."""


class InvalidSettings(DuetError):
    """A sampling or engine setting outside its allowed range."""


class InvalidExport(DuetError):
    """A file given to import that cannot be read as a Duet chat export: nothing was imported."""


class SaveFailed(DuetError):
    """A file Duet was asked to write could not be written (no such folder, no permission, a
    full disk): a file already at that path is left as it was."""


class HistoryWriteFailed(SaveFailed):
    """The history database refused a write (a full disk, a file made read-only, an I/O error):
    the change was rolled back, and what the window shows is kept."""

    def __init__(self, message: str, *, file: str = "") -> None:
        super().__init__(message)
        self.file = file


class EngineError(DuetError):
    """The engine worker reported a failure it survived."""


class EngineCrashed(EngineError):
    """The engine worker process died; the next request starts a new one."""

    def __init__(self, message: str, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.exitcode = exitcode


class Unsupported(EngineError):
    """Asked of an engine that cannot do it (its capability flag is off)."""

    def __init__(self, message: str, capability: str = "") -> None:
        super().__init__(message)
        self.capability = capability


class RemoteError(EngineError):
    """A remote server that is down, refuses the key, lacks the model or the endpoint."""

    def __init__(self, message: str, server: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.server, self.status = server, status


class InsecureKey(RemoteError):
    """An API key would go over plain http to another machine, and nobody said yes to that."""


class HubError(DuetError):
    """Talking to the Hugging Face Hub failed; the message says why and what to do."""


class HubOffline(HubError):
    """Offline mode (HF_HUB_OFFLINE) is on: Duet makes no network call at all."""


class HubUnreachable(HubError):
    """No connection to the Hub."""


class HubNotFound(HubError):
    """The repository or file does not exist, or is private."""


class HubAccessDenied(HubError):
    """401/403 or a gated repository."""


class HubRateLimited(HubError):
    """HTTP 429."""


class DownloadError(HubError):
    """A download that could not finish."""


class DownloadCancelled(DownloadError):
    """The user cancelled; nothing was kept or registered."""


class DownloadPaused(DownloadCancelled):
    """Stopped because Duet is closing; the partial file is kept for the next run."""


class ChecksumMismatch(DownloadError):
    """The bytes do not hash to the sha256 the Hub published: the file was discarded."""


class DiskFull(DownloadError):
    """Not enough free space for the file."""
