"""What the user hands a command: a text (or stdin), a message list, and the model named, or
the starter model a mode defaults to."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from desktop.core.chat.prompts import Message, Mode, messages_from_json
from desktop.core.engine.factory import Runnable, find_model
from desktop.core.errors import DuetError, InvalidPrompt
from desktop.core.models.library import InstalledModel, Library
from desktop.core.models.starter import require_starter_paths


def read_text(text: str) -> str:
    """The argument itself, or stdin for "-"."""
    return sys.stdin.read() if text == "-" else text


def starter(library: Library, mode: Mode) -> InstalledModel:
    """The starter pair's base model for raw text, its instruct model for chat."""
    require_starter_paths()
    pair = library.catalog.starter_pair()
    return library.resolve(pair.base.id if mode == "raw" else pair.instruct.id)


def any_model(name: str | None, mode: Mode) -> Runnable:
    """The model named (installed, or remote:SERVER[/MODEL]), else the mode's starter model."""
    library = Library()
    return find_model(name, library) if name else starter(library, mode)


def installed_model(name: str | None, mode: Mode) -> InstalledModel:
    """An installed model, for what needs its file (its template, its BOS)."""
    library = Library()
    return library.resolve(name) if name else starter(library, mode)


def messages(file: Path | None, text: str | None) -> list[Message]:
    """The messages of an OpenAI-style JSON file, then TEXT as the user's."""
    found: list[Message] = []
    if file is not None:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DuetError(f"Cannot read {file}: {exc.strerror or exc}.") from None
        except ValueError as exc:
            raise DuetError(f"{file} is not valid JSON: {exc}.") from None
        except RecursionError:
            raise DuetError(f"{file} is nested too deeply to be a list of messages.") from None
        found = messages_from_json(data, str(file))
    if text is not None:
        found.append(Message("user", read_text(text)))
    if not found:
        raise InvalidPrompt("Nothing to render: give a TEXT message or --messages FILE.json.")
    return found
