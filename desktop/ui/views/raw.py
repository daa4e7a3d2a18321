"""Raw mode: a notebook. You write, Continue appends the model's text inline in another colour,
you edit anything, and continue again. The last continuation can be undone.

Text you type is always in the normal colour, even when typed inside generated text: the
colour marks what the model wrote, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QMimeData, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QInputMethodEvent,
    QKeyEvent,
    QPalette,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.chat.tokens import TokenRecord
from desktop.core.engine import events as p
from desktop.ui.views.tokens import TokenHover, token_format

# Base models continue documents; these shapes turn continuation into something useful.
SCAFFOLDS: tuple[tuple[str, str, str], ...] = (
    (
        "Few-shot Q/A",
        "Two answered questions teach the pattern; the model answers the third the same way.",
        "Q: What is the capital of Italy?\nA: Rome.\n\nQ: How many legs does a spider have?\nA: Eight.\n\n"
        "Q: What gas do plants take in?\nA:",
    ),
    (
        "Dialogue transcript",
        "A script with named speakers: the model writes the next line for the assistant.",
        "The following is a conversation between a curious user and a helpful, knowledgeable "
        "assistant.\n\nUser: Hello! Can you help me plan a picnic?\nAssistant: Of course. Where "
        "would you like to go?\nUser: Somewhere near a lake.\nAssistant:",
    ),
    (
        "Document opening",
        "The start of a well-written document: the model continues in the same register.",
        "# A Beginner's Guide to Bread Baking\n\n## Introduction\n\nBaking bread at home needs only "
        "four ingredients: flour, water, salt and yeast. In this guide",
    ),
)


class NotebookEditor(QPlainTextEdit):
    """Whatever the user types or pastes goes in the plain colour, set just before Qt inserts
    it: the format of the text left of the cursor would otherwise carry on."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plain_format = QTextCharFormat()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self.setCurrentCharFormat(self.plain_format)
        super().keyPressEvent(event)

    def inputMethodEvent(self, event: QInputMethodEvent) -> None:
        self.setCurrentCharFormat(self.plain_format)
        super().inputMethodEvent(event)

    def insertFromMimeData(self, source: QMimeData) -> None:
        self.setCurrentCharFormat(self.plain_format)
        super().insertFromMimeData(source)


class RawView(QWidget):
    continue_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = NotebookEditor(self)
        self.editor.setPlaceholderText(
            "Write the beginning of a text and press Continue (Ctrl+Enter). A base model continues "
            "documents; try a story opening, a list, or a Q: / A: pattern."
        )
        self.editor.setAccessibleName("Raw document")
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.editor.setFont(font)

        self.continue_button = QPushButton("Continue", self)
        self.continue_button.setToolTip("Let the model continue the text (Ctrl+Enter)")
        self.continue_button.setAccessibleName("Continue")
        self.continue_button.clicked.connect(self.continue_requested)
        self.undo_button = QPushButton("Undo continuation", self)
        self.undo_button.setAccessibleName("Undo continuation")
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.undo_continuation)
        self.scaffolds = QToolButton(self)
        self.scaffolds.setText("Scaffold")
        self.scaffolds.setToolTip("Inserts that make a base model useful: it continues a pattern")
        self.scaffolds.setAccessibleName("Insert a base-model scaffold")
        self.scaffolds.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.scaffolds)
        for name, explanation, text in SCAFFOLDS:
            action = menu.addAction(name)
            action.setToolTip(explanation)
            action.setStatusTip(explanation)
            action.triggered.connect(lambda _=False, text=text: self.insert_scaffold(text))
        menu.setToolTipsVisible(True)
        self.scaffolds.setMenu(menu)
        row = QHBoxLayout()
        row.addWidget(self.scaffolds)
        row.addStretch(1)
        row.addWidget(self.undo_button)
        row.addWidget(self.continue_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.editor, 1)
        layout.addLayout(row)

        self._plain = self.editor.plain_format
        self._generated = QTextCharFormat()
        self.tokens: list[TokenRecord] = []
        self.hover = TokenHover(self.editor, self.tokens)
        self._continuation: tuple[int, str] | None = None  # (start, text) of the last one
        self.refresh_colours()

    def refresh_colours(self) -> None:
        """Generated text colour that reads on light and dark palettes alike."""
        dark = self.palette().color(QPalette.ColorRole.Base).lightness() < 128
        self._generated.setForeground(QColor("#6cb6ff" if dark else "#1f5fb0"))
        self._plain.setForeground(self.palette().color(QPalette.ColorRole.Text))

    @property
    def text(self) -> str:
        return self.editor.toPlainText()

    def set_text(self, text: str) -> None:
        self.editor.setPlainText(text)
        self.tokens.clear()
        self._continuation = None
        self.undo_button.setEnabled(False)
        self.editor.moveCursor(QTextCursor.MoveOperation.End)

    def begin_continuation(self) -> None:
        self._continuation = (len(self.text), "")
        self.undo_button.setEnabled(False)

    def append_generated(self, text: str, tokens: Sequence[p.Token] = ()) -> None:
        """Append generated text; each token's stretch remembers the token, for the hover chart."""
        if not text or self._continuation is None:
            return
        cursor = QTextCursor(self.editor.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        pieces = [t for t in tokens if t.text]
        if pieces and "".join(t.text for t in pieces) == text:
            for token in pieces:
                index = len(self.tokens)
                self.tokens.append(
                    TokenRecord(token.token_id, token.piece, token.logprob, token.top)
                )
                cursor.insertText(
                    token.text, token_format(index, self._generated, self.tokens[-1], False)
                )
        else:
            cursor.insertText(text, self._generated)
        start, so_far = self._continuation
        self._continuation = (start, so_far + text)
        self.editor.ensureCursorVisible()

    def end_continuation(self) -> None:
        self.undo_button.setEnabled(bool(self._continuation and self._continuation[1]))

    def undo_continuation(self) -> bool:
        """Remove the last continuation, if the text there is still what the model wrote."""
        if not self._continuation:
            return False
        start, text = self._continuation
        if self.text[start : start + len(text)] != text:
            self.undo_button.setEnabled(False)
            return False
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(start)
        cursor.setPosition(start + len(text), QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        self._continuation = None
        self.undo_button.setEnabled(False)
        return True

    def insert_scaffold(self, text: str) -> None:
        """Put a scaffold at the cursor (or fill an empty notebook), ready to continue."""
        if not self.text.strip():
            self.set_text(text)
        else:
            self.editor.textCursor().insertText(text, self._plain)
        self.editor.setFocus()

    def generated_ranges(self) -> list[tuple[int, int]]:
        """(start, end) of every stretch in the generated colour: what the tests look at."""
        ranges: list[tuple[int, int]] = []
        block = self.editor.document().begin()
        colour = self._generated.foreground().color()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                fragment = it.fragment()
                if fragment.charFormat().foreground().color() == colour:
                    ranges.append((fragment.position(), fragment.position() + fragment.length()))
                it += 1
            block = block.next()
        return ranges

    def set_busy(self, busy: bool) -> None:
        self.continue_button.setEnabled(not busy)
        if busy:
            self.undo_button.setEnabled(False)
