"""The prompt inspector: the exact text of the last prompt, special tokens highlighted, and
how many tokens it was (and how many came from the KV cache)."""

from __future__ import annotations

import re

from PySide6.QtGui import QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from desktop.core.chat.prompts import RenderedPrompt
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


class PromptInspector(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("No prompt sent yet.", self)
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
        self.prompt: RenderedPrompt | None = None

    def show_prompt(self, prompt: RenderedPrompt) -> None:
        self.prompt = prompt
        self.view.setPlainText(prompt.text)
        where = prompt.template_name or "raw text, no template"
        self.summary.setText(f"<b>{prompt.mode}</b> · {where} · counting tokens…")

    def show_counts(self, prompt_tokens: int, cached_tokens: int) -> None:
        if self.prompt is None:
            return
        where = self.prompt.template_name or "raw text, no template"
        cached = f", {cached_tokens} reused from the cache" if cached_tokens else ""
        stops = ", ".join(repr(s) for s in self.prompt.stop)
        extra = f"<br>stop strings: {stops}" if stops else ""
        # Some servers (llama-cpp-python's) send no token counts with a stream.
        counted = f"{prompt_tokens} tokens{cached}" if prompt_tokens else "tokens not counted"
        self.summary.setText(f"<b>{self.prompt.mode}</b> · {where} · {counted}{extra}")

    @property
    def text(self) -> str:
        return self.view.toPlainText()
