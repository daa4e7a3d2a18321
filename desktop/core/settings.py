"""App settings, persisted as JSON in Duet's config dir and validated on the way in and out.

A settings file that is unreadable or holds out-of-range values never stops Duet: the bad
values fall back to their defaults and `load_settings` says which, so the window can tell.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from desktop.core.atomic_file import write_atomically
from desktop.core.chat.conversation import Overflow
from desktop.core.chat.prompts import MODES, Mode
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine.config import MAX_THREADS, EngineConfig
from desktop.core.errors import InvalidSettings
from desktop.core.paths import app_dirs

CONTEXT_RANGE = (256, 131072)
OVERFLOW_POLICIES: tuple[Overflow, ...] = ("stop", "drop_oldest")
ThemeChoice = Literal["system", "light", "dark"]
THEMES: tuple[ThemeChoice, ...] = ("system", "light", "dark")


@dataclass(frozen=True)
class AppSettings:
    sampling: SamplingParams = field(default_factory=SamplingParams)
    n_ctx: int = 4096
    n_threads: int = 0  # 0: Duet's thread policy
    mode: Mode = "chat"
    model_id: str = ""  # the last model used; empty: the starter pair's
    system_prompt: str = ""
    overflow: Overflow = "stop"  # when a chat outgrows the context: stop and say so, or drop_oldest
    theme: ThemeChoice = "system"  # the look: the platform's colour scheme, or always light or dark
    open_chat: int = 0  # the chat open when Duet closed, opened again at start; 0: none
    open_document: int = 0  # the raw document open when Duet closed; 0: none
    # A base model in chat mode is aligned by examples: the chat after example exchanges
    # (desktop/core/chat/aligned.py) instead of the plain transcript or its template.
    aligned: bool = False
    # The welcome page (desktop/ui/views/welcome.py) was left once: later starts open on the
    # workspace. Missing from settings written before it existed: False, so it shows once.
    welcomed: bool = False

    def validated(self) -> AppSettings:
        self.sampling.validated()
        if not CONTEXT_RANGE[0] <= self.n_ctx <= CONTEXT_RANGE[1]:
            raise InvalidSettings(
                f"context length must be between {CONTEXT_RANGE[0]} and {CONTEXT_RANGE[1]}, not {self.n_ctx}."
            )
        if not 0 <= self.n_threads <= MAX_THREADS:
            raise InvalidSettings(f"threads must be between 0 (automatic) and {MAX_THREADS}.")
        if self.overflow not in OVERFLOW_POLICIES:
            raise InvalidSettings(
                f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}, not {self.overflow!r}."
            )
        for chat_id in (self.open_chat, self.open_document):
            # SQLite ids are 64-bit; True is an int to Python but no id.
            if type(chat_id) is not int or not 0 <= chat_id < 2**63:
                raise InvalidSettings("a chat or document id is a positive number, or 0 for none.")
        if self.theme not in THEMES:
            raise InvalidSettings(f"theme must be one of {', '.join(THEMES)}, not {self.theme!r}.")
        if type(self.aligned) is not bool:
            raise InvalidSettings("aligned is true or false.")
        if type(self.welcomed) is not bool:
            raise InvalidSettings("welcomed is true or false.")
        if self.mode not in MODES:
            raise InvalidSettings(f"mode must be raw or chat, not {self.mode!r}.")
        return self

    def engine_config(self) -> EngineConfig:
        return EngineConfig(n_ctx=self.n_ctx, n_threads=self.n_threads)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["sampling"] = self.sampling.to_dict()
        return data


def settings_path() -> Path:
    return app_dirs().config / "settings.json"


def load_settings(path: Path | None = None) -> tuple[AppSettings, list[str]]:
    """The saved settings, and a note for each value that had to fall back to its default."""
    path = path or settings_path()
    defaults = AppSettings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return defaults, []
    except (OSError, ValueError) as exc:
        return defaults, [f"Settings file {path} was unreadable ({exc}); using defaults."]
    except RecursionError:
        return defaults, [
            f"Settings file {path} is nested too deeply to be Duet's; using defaults."
        ]
    if not isinstance(data, dict):
        return defaults, [f"Settings file {path} was not a JSON object; using defaults."]
    notes: list[str] = []
    sampling = defaults.sampling
    saved_sampling = data.get("sampling") or {}
    if not isinstance(saved_sampling, dict):
        notes.append("Ignored saved sampling: it is not a set of named values.")
        saved_sampling = {}
    for key, value in saved_sampling.items():
        try:
            sampling = sampling.with_changes(**{key: value})
        except (InvalidSettings, TypeError) as exc:
            notes.append(f"Ignored saved {key}: {exc}")
    settings = replace(defaults, sampling=sampling)
    for f in fields(AppSettings):
        if f.name == "sampling" or f.name not in data:
            continue
        try:
            value, default = data[f.name], getattr(defaults, f.name)
            candidate = replace(settings, **{f.name: value})
            # JSON's true is a bool, and a bool is an int: a count must not take it as 1.
            if not isinstance(value, type(default)) or (
                isinstance(value, bool) and not isinstance(default, bool)
            ):
                raise InvalidSettings(f"wrong type {type(value).__name__}")
            settings = candidate.validated()
        except (InvalidSettings, TypeError) as exc:
            notes.append(f"Ignored saved {f.name}: {exc}")
    return settings, notes


def save_settings(settings: AppSettings, path: Path | None = None) -> None:
    path = path or settings_path()
    settings.validated()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(settings.to_dict(), indent=2))
