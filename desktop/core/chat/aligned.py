"""Aligned by examples: a base model chats after a preamble of example exchanges.

A base model was never tuned to answer; Lin et al. 2023 ("The Unlocking Spell on Base LLMs:
Rethinking Alignment via In-Context Learning", the URIAL method) showed that a short paragraph
and three stylistic example exchanges before the conversation make it answer much like an
instruct model. Duet's preamble is its own text, in a file the user can edit (created from the
shipped default on first use); the chat follows it as "# Query:" / "# Answer:" turns, ending
with the answer marker, and the next marker the model writes ends its reply.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from desktop.core.atomic_file import write_atomically
from desktop.core.chat.prompts import Message, RenderedPrompt, TokenizerSpec, check_role, with_bos
from desktop.core.errors import DuetError
from desktop.core.paths import app_dirs

QUERY = "# Query:"
ANSWER = "# Answer:"
ALIGNED_TEMPLATE_NAME = "aligned by examples (URIAL-style preamble)"
# The model's reply ends where it starts the next turn of the pattern, either side's.
ALIGNED_STOP = (f"\n{QUERY}", f"\n{ANSWER}")
MAX_PREAMBLE_BYTES = 64 * 1024  # the default is under 2 KB; a preamble is read on every reply
DEFAULT_SOURCE = "Duet's default examples"
# What the window says while the option applies: the status bar's mode, the hint above the chat.
ALIGNED_STATUS = "chat: aligned by examples"
ALIGNED_HINT = (
    "Aligned by examples: this base model's chat is written after a few example exchanges, "
    "which it imitates; it was never tuned to chat. Edit the examples, or turn this off, in "
    "the Sampling panel."
)
_MARKER_LINE = re.compile(rf"^(?:{re.escape(QUERY)}|{re.escape(ANSWER)})", re.MULTILINE)


@dataclass(frozen=True)
class Preamble:
    """The examples a chat is rendered after: their text, where it came from, and why the
    user's file was not used ("" when it was)."""

    text: str
    source: str
    problem: str = ""

    @property
    def examples(self) -> int:
        return len(re.findall(rf"^{re.escape(ANSWER)}", self.text, re.MULTILINE))


def preamble_path() -> Path:
    """The user's preamble, under Duet's data dir (DUET_HOME-relative when that is set)."""
    return app_dirs().data / "aligned" / "preamble.txt"


def default_preamble_path() -> Path:
    """The shipped default: beside the source tree, where a wheel installed it, or inside a
    frozen bundle."""
    here = Path(__file__).resolve()
    candidates = [
        here.parents[3] / "resources" / "aligned" / "preamble.txt",
        Path(sys.prefix) / "share" / "duet" / "aligned" / "preamble.txt",
        Path(getattr(sys, "_MEIPASS", here.parents[3])) / "resources" / "aligned" / "preamble.txt",
    ]
    return next((c for c in candidates if c.is_file()), candidates[0])


def default_preamble() -> Preamble:
    path = default_preamble_path()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise DuetError(
            f"Duet's default examples ({path}) are missing or unreadable: reinstall Duet, or "
            "turn off Aligned by examples."
        ) from None
    return Preamble(text, DEFAULT_SOURCE)


def check_preamble(text: str, where: str) -> None:
    """Refuse a preamble the render cannot use: it must hold example turns, "# Query:" then
    "# Answer:" at the start of a line, in turn, ending with an answer."""
    markers = _MARKER_LINE.findall(text)
    expected = [QUERY, ANSWER] * (len(markers) // 2)
    if not markers or markers != expected:
        raise DuetError(
            f"{where} needs example exchanges: each a line starting {QUERY!r}, the question, "
            f"then a line starting {ANSWER!r} and the answer, in turn, ending with an answer."
        )


def ensure_preamble_file(path: Path | None = None) -> Path:
    """The user's preamble file, created from the default if there is none yet."""
    path = path or preamble_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Never half a file, even if Duet stops mid-copy or another Duet starts at once.
        write_atomically(path, default_preamble_path().read_bytes())
    return path


def load_preamble(path: Path | None = None) -> Preamble:
    """The user's preamble (created from the default on first use); the default, with the
    reason in `problem`, when the file cannot be used. The user's file is never overwritten."""
    path = path or preamble_path()
    try:
        ensure_preamble_file(path)
        with path.open("rb") as file:
            data = file.read(MAX_PREAMBLE_BYTES + 1)
    except OSError as exc:
        return _fallback(f"could not be read ({exc.strerror or exc})", path)
    if len(data) > MAX_PREAMBLE_BYTES:
        return _fallback(f"is over {MAX_PREAMBLE_BYTES // 1024} KB", path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _fallback("is not UTF-8 text", path)
    try:
        check_preamble(text, f"The examples file {path}")
    except DuetError as exc:
        return replace_problem(default_preamble(), f"{exc} Using Duet's default examples.")
    return Preamble(text, str(path))


def _fallback(what: str, path: Path) -> Preamble:
    return replace_problem(
        default_preamble(),
        f"The examples file {path} {what}, so Duet's default examples were used. "
        "Fix the file (Edit examples… in the Sampling panel), or delete it to start again.",
    )


def replace_problem(preamble: Preamble, problem: str) -> Preamble:
    return Preamble(preamble.text, preamble.source, problem)


def aligned_note(preamble: Preamble) -> str:
    return (
        f"Aligned by examples: the base model sees {preamble.examples} example exchanges "
        f"({preamble.source}) before the chat, and its reply ends where it starts the next "
        f"{QUERY!r}. This is not a chat template: the model was not tuned to follow it."
    )


def render_aligned_chat(
    messages: Sequence[Message],
    spec: TokenizerSpec,
    preamble: Preamble,
    system: str | None = None,
    add_generation_prompt: bool = True,
) -> RenderedPrompt:
    """The conversation as plain text after the preamble: a system prompt as a paragraph after
    the examples (closest to the chat it is about), each user turn after the query marker and
    each reply after the answer marker; for generation, it ends with the answer marker."""
    parts = [preamble.text.strip(), "\n\n"]
    system_texts = [system] if system else []
    system_texts += [m.content for m in messages if m.role == "system" and not system]
    for text in system_texts:
        if text.strip():
            parts.append(f"{text.strip()}\n\n")
    for i, message in enumerate(messages):
        check_role(message.role, f"Message {i + 1}")
        if message.role == "system":
            continue
        marker = ANSWER if message.role == "assistant" else QUERY
        parts.append(f"{marker}\n{message.content.strip()}\n\n")
    if add_generation_prompt:
        parts.append(f"{ANSWER}\n")
    notes = (aligned_note(preamble), *((preamble.problem,) if preamble.problem else ()))
    return RenderedPrompt(
        text=with_bos("".join(parts), spec),
        mode="chat",
        template_name=ALIGNED_TEMPLATE_NAME,
        stop=ALIGNED_STOP,
        notes=notes,
    )
