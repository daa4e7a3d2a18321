"""What the user hands a command: a text (or stdin), a message list, and the model named, or
the starter model a mode defaults to."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from desktop.core.atomic_file import NotARegularFile, refuse_special
from desktop.core.chat.prompts import Message, Mode, messages_from_json
from desktop.core.engine.factory import Runnable, find_model
from desktop.core.errors import DuetError, InvalidPrompt
from desktop.core.models.library import InstalledModel, Library
from desktop.core.models.starter import require_starter_paths

# What a command reads from stdin or a --messages file: far more than the longest context
# (a million tokens is about 4 MB), and a bound, so that /dev/zero or a runaway pipe is
# refused instead of filling memory.
MAX_INPUT_BYTES = 16 << 20


def read_text(text: str) -> str:
    """The argument itself, or stdin for "-" (UTF-8, at most MAX_INPUT_BYTES)."""
    if text != "-":
        return text
    if sys.stdin is None:  # started with stdin closed (`duet ... <&-`)
        raise InvalidPrompt("TEXT is -, but stdin is closed: pipe the text in, or give it as TEXT.")
    stream = getattr(sys.stdin, "buffer", sys.stdin)  # bytes, unless a text stream is all there is
    try:
        data = stream.read(MAX_INPUT_BYTES + 1)
    except (OSError, ValueError) as exc:  # a closed or unreadable descriptor
        raise InvalidPrompt(f"Cannot read stdin: {exc}.") from None
    return bounded_utf8(data, "stdin")


def bounded_utf8(data: bytes | str, where: str) -> str:
    """What was read, as text, if it is UTF-8 and no longer than MAX_INPUT_BYTES."""
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidPrompt(
            f"{where} holds more than {MAX_INPUT_BYTES >> 20} MB, more than any model's context: "
            "give a shorter text."
        )
    if isinstance(data, str):
        return check_utf8(data, where)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPrompt(
            f"{where} is not UTF-8 text ({data[exc.start : exc.start + 1]!r} at byte {exc.start}): "
            "give it in UTF-8."
        ) from None


def check_utf8(text: str, where: str) -> str:
    """`text` if it is UTF-8 text. Bytes that are not (Latin-1 typed in a UTF-8 terminal, a
    file name) reach Python as lone surrogates, which no model, database or file can take."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        shown = repr(bytes([ord(char) - 0xDC00])) if "\udc80" <= char <= "\udcff" else ascii(char)
        raise InvalidPrompt(
            f"{where} is not UTF-8 text ({shown} at character {exc.start}): give it in UTF-8."
        ) from None
    return text


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
            refuse_special(file)
            with file.open("rb") as handle:
                data = json.loads(bounded_utf8(handle.read(MAX_INPUT_BYTES + 1), str(file)))
        except NotARegularFile as exc:
            raise DuetError(f"{file} is {exc.strerror}; give a .json text file.") from None
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
