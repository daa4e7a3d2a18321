"""The prompt inspector: the exact text of the last prompt, special tokens highlighted, and
how many tokens it was (and how many came from the KV cache).

It keeps one prompt per mode and shows the mode the window shows: raw mode's last continuation,
or the chat's last reply (sent now, or the prompt saved with it for a chat reopened). "Counting
tokens…" is said only while that mode's request is under way, so it can never be left behind.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass

from PySide6.QtGui import QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from desktop.core.chat.prompts import Mode, RenderedPrompt
from desktop.core.chat.session import StoredPrompt
from desktop.ui import theme

# Special tokens as they appear in prompt text: <|im_start|>, <start_of_turn>, <bos>, </s>,
# [INST]. Generic on purpose: the highlight is a reading aid, the tokenizer decides.
SPECIAL_TOKEN = re.compile(
    r"<\|[^<>|\s]{1,40}\|>|</?(?:s|bos|eos|pad|unk|start_of_turn|end_of_turn|think)>|\[/?INST\]"
)


class SpecialTokenHighlighter(QSyntaxHighlighter):
    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        # Not `self.format`: that would hide QSyntaxHighlighter.format(position).
        self.special = QTextCharFormat()
        self.special.setFontWeight(QFont.Weight.Bold)
        self._recolour()
        theme.theme_notifier().changed.connect(self._recolour)

    def _recolour(self, _scheme: str = "") -> None:
        """The special-token colour of the theme in use, redrawn when the theme changes."""
        colours = theme.current()
        self.special.setForeground(colours.colour("special"))
        self.special.setBackground(colours.colour("special", 0.14))
        self.rehighlight()

    def highlightBlock(self, text: str) -> None:
        for match in SPECIAL_TOKEN.finditer(text):
            self.setFormat(match.start(), match.end() - match.start(), self.special)


@dataclass(frozen=True)
class Shown:
    """What the inspector shows for one mode: the prompt's text and the summary above it."""

    text: str
    summary: str


def nothing_sent(mode: Mode) -> Shown:
    return Shown("", f"No prompt sent yet in {'this chat' if mode == 'chat' else 'raw mode'}.")


def _where(prompt: RenderedPrompt) -> str:
    return html.escape(prompt.template_name or "raw text, no template")


def _counted(prompt_tokens: int, cached_tokens: int) -> str:
    # Some servers (llama-cpp-python's) send no token counts with a stream.
    if not prompt_tokens:
        return "tokens not counted"
    cached = f", {cached_tokens} reused from the cache" if cached_tokens else ""
    return f"{prompt_tokens} tokens{cached}"


class PromptInspector(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel(nothing_sent("chat").summary, self)
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Prompt summary")
        self.view = QPlainTextEdit(self)
        self.view.setReadOnly(True)
        self.view.setAccessibleName("Exact prompt text")
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.view.setFont(font)
        self.highlighter = SpecialTokenHighlighter(self.view.document())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.view, 1)
        self.mode: Mode = "chat"  # the mode whose prompt is shown
        self.shown: dict[Mode, Shown] = {"raw": nothing_sent("raw"), "chat": nothing_sent("chat")}
        self.prompt: RenderedPrompt | None = None  # the last prompt sent
        self.pending: Mode | None = None  # the mode whose request awaits its counts

    def set_mode(self, mode: Mode) -> None:
        """Show this mode's last prompt (or that it has sent none)."""
        self.mode = mode
        self._render()

    def show_prompt(self, prompt: RenderedPrompt) -> None:
        """A request is under way with this prompt (its text may still be empty while the
        chat is fitted to the context)."""
        self.prompt, self.pending = prompt, prompt.mode
        doing = "counting tokens…" if prompt.text else "fitting the chat to the context…"
        self._set(
            prompt.mode, Shown(prompt.text, f"<b>{prompt.mode}</b> · {_where(prompt)} · {doing}")
        )

    def show_counts(self, prompt_tokens: int, cached_tokens: int) -> None:
        """The request under way was answered: how many tokens its prompt was."""
        prompt, mode = self.prompt, self.pending
        if prompt is None or mode is None:
            return
        self.pending = None
        stops = ", ".join(html.escape(repr(s)) for s in prompt.stop)
        extra = f"<br>stop strings: {stops}" if stops else ""
        counted = _counted(prompt_tokens, cached_tokens)
        self._set(mode, Shown(prompt.text, f"<b>{mode}</b> · {_where(prompt)} · {counted}{extra}"))

    def show_unanswered(self, mode: Mode) -> None:
        """The request of `mode` failed before it was answered: its prompt stays, uncounted."""
        prompt = self.prompt
        if prompt is None or self.pending != mode:
            return
        self.pending = None
        if not prompt.text:  # it failed while the chat was being fitted: nothing was sent
            self._set(mode, Shown("", f"<b>{mode}</b> · not answered: nothing was sent"))
            return
        note = "not answered: the request failed before its tokens were counted"
        self._set(mode, Shown(prompt.text, f"<b>{mode}</b> · {_where(prompt)} · {note}"))

    def show_stored(self, stored: StoredPrompt | None) -> None:
        """The chat shown changed (reopened, another branch, a new chat): the prompt saved
        with its last reply, labelled as such, or that it has sent none."""
        if self.pending == "chat":
            return  # a reply is under way: its prompt is the one to show
        if stored is None:
            self._set("chat", nothing_sent("chat"))
            return
        when = (
            time.strftime(" on %Y-%m-%d %H:%M", time.localtime(stored.created))
            if stored.created
            else ""
        )
        label = f"stored with the last reply, by {html.escape(stored.model_id or 'a model')}{when}"
        counted = _counted(stored.prompt_tokens, stored.cached_tokens)
        where = html.escape(stored.prompt.template_name or "template not recorded")
        summary = f"<b>chat</b> · {where} · {label} · {counted}"
        self._set("chat", Shown(stored.prompt.text, summary))

    def _set(self, mode: Mode, shown: Shown) -> None:
        self.shown[mode] = shown
        if mode == self.mode:
            self._render()

    def _render(self) -> None:
        shown = self.shown[self.mode]
        if shown.text != self.view.toPlainText():
            self.view.setPlainText(shown.text)
        self.summary.setText(shown.summary)

    @property
    def text(self) -> str:
        return self.view.toPlainText()
