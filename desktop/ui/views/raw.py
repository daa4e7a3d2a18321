"""Raw mode: a notebook. You write, Continue appends the model's text inline in another colour,
you edit anything, and continue again. The last continuation can be undone. Click a token the
model wrote to fork there: the alternatives panel offers its other choices (or your own text),
and the text is cut at that token, the choice put in its place and continued, as one undo step.

Text you type is always in the normal colour, even when typed inside generated text: the
colour marks what the model wrote, nothing else.

Nothing in the notebook is replaced without undo: showing other text (another document, a new
one, a chat's prompt) is one step on the editor's undo stack, and the view remembers which
stored document each stretch of that history belongs to, so Ctrl+Z back across a switch is
saved into the document the text came from, never over the one opened after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from PySide6.QtCore import QMimeData, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QInputMethodEvent,
    QKeyEvent,
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

from desktop.core.chat.fork import TYPED, choice_record
from desktop.core.chat.scaffolds import SCAFFOLDS, Scaffold, set_apart
from desktop.core.chat.tokens import TokenRecord
from desktop.core.engine import events as p
from desktop.ui.theme import GENERATED
from desktop.ui.views.alternatives import AlternativesPanel
from desktop.ui.views.tokens import TOKEN_INDEX, TokenHover, token_format


@dataclass(frozen=True)
class _Switch:
    """The notebook changed documents: from `steps` undo steps on, its text is `document_id`'s."""

    steps: int
    document_id: int | None


def _units(text: str) -> int:
    """The length of `text` as Qt counts positions: in UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


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
    scaffold_inserted = Signal(object)  # the Scaffold: the window adds its stop strings
    fork_requested = Signal(int, str)  # a token's index and what takes its place: see `fork`

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
        self.continue_button.setProperty("primary", True)  # the accent button (duet.qss)
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
        for scaffold in SCAFFOLDS:
            action = menu.addAction(scaffold.name)
            action.setToolTip(scaffold.explanation)
            action.setStatusTip(scaffold.explanation)
            action.triggered.connect(lambda _=False, s=scaffold: self.insert_scaffold(s))
        menu.setToolTipsVisible(True)
        self.scaffolds.setMenu(menu)
        row = QHBoxLayout()
        row.addWidget(self.scaffolds)
        row.addStretch(1)
        row.addWidget(self.undo_button)
        row.addWidget(self.continue_button)
        self.alternatives = AlternativesPanel(self)
        self.alternatives.fork_requested.connect(self.fork_requested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.alternatives)
        layout.addLayout(row)

        self._plain = self.editor.plain_format
        self._generated = QTextCharFormat()
        self.tokens: list[TokenRecord] = []
        self.hover = TokenHover(self.editor, self.tokens)
        self.hover.clicked.connect(self._token_clicked)
        self._busy = False
        self._continuation: tuple[int, str] | None = None  # (start, text) of the last one
        # While a fork's continuation streams: the undo steps there were after the fork, so
        # its text joins the fork's step (None: each token is a step, as in any continuation).
        self._joining: int | None = None
        # Which stored document the text belongs to, along the undo history (see document_id).
        self._first_document: int | None = None
        self._switches: list[_Switch] = []
        self._steps = 0  # undo steps available after the last change
        document = self.editor.document()
        document.undoCommandAdded.connect(self._forget_undone_switches)
        document.contentsChanged.connect(self._count_steps)
        self.refresh_colours()

    def refresh_colours(self) -> None:
        """Generated text in the one colour that reads on the light and the dark theme; the
        user's own text carries none, so it is the theme's text colour, whichever theme is on."""
        self._generated.setForeground(QColor(GENERATED))
        self._plain.clearForeground()

    @property
    def text(self) -> str:
        return self.editor.toPlainText()

    def set_text(self, text: str) -> None:
        """Replace the whole text, as one step Ctrl+Z takes back (setPlainText would clear the
        undo history: the replaced text would be gone)."""
        cursor = QTextCursor(self.editor.document())
        cursor.beginEditBlock()
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.insertText(text, self._plain)
        # The step ends on a format change, not an insertion: Qt would merge the next typed
        # characters into an insertion, and one Ctrl+Z would take them away with the swap.
        cursor.setBlockFormat(cursor.blockFormat())
        cursor.endEditBlock()
        # The token records stay: an undo brings back generated text that points at them.
        self._continuation = None
        self.undo_button.setEnabled(False)
        self.editor.moveCursor(QTextCursor.MoveOperation.End)

    def open_document(self, text: str, document_id: int | None) -> None:
        """Show stored document `document_id` (None: a new, unsaved one) in place of the text
        here, which its own document keeps; Ctrl+Z brings that text back, and with it that
        document as the one the text is saved into."""
        self.set_text(text)
        self._switches.append(_Switch(self.editor.document().availableUndoSteps(), document_id))

    @property
    def document_id(self) -> int | None:
        """The stored document the text shown belongs to (None: not saved yet). After an undo
        across a switch of documents it is the earlier document again, after a redo the later."""
        steps = self.editor.document().availableUndoSteps()
        document_id = self._first_document
        for switch in self._switches:
            if switch.steps > steps:
                break
            document_id = switch.document_id
        return document_id

    @document_id.setter
    def document_id(self, document_id: int | None) -> None:
        """The text shown was saved as `document_id` (a new document got its id)."""
        steps = self.editor.document().availableUndoSteps()
        reached = [i for i, switch in enumerate(self._switches) if switch.steps <= steps]
        if not reached:
            self._first_document = document_id
            return
        last = reached[-1]
        self._switches[last] = replace(self._switches[last], document_id=document_id)

    def forget_document(self, document_id: int) -> None:
        """The document was deleted: text undone back to it is saved as a new document."""
        if self._first_document == document_id:
            self._first_document = None
        self._switches = [
            replace(s, document_id=None) if s.document_id == document_id else s
            for s in self._switches
        ]

    def _count_steps(self) -> None:
        self._steps = self.editor.document().availableUndoSteps()

    def _forget_undone_switches(self) -> None:
        """A new edit after an undo drops the redo history: switches that were undone (beyond
        the steps there were before this edit) can no longer come back. Qt announces a new
        step before the change that counts it, so `_steps` is still the count before it."""
        self._switches = [s for s in self._switches if s.steps <= self._steps]

    def begin_continuation(self) -> None:
        self._continuation = (len(self.text), "")
        self._joining = None
        self.undo_button.setEnabled(False)

    # Fork at a token ------------------------------------------------------------------------------

    def _token_clicked(self, index: int) -> None:
        """A click on a token the model wrote offers its alternatives; not while the model
        writes, as the text is still growing where a fork would cut it."""
        if not self._busy and self.token_start(index) is not None:
            self.alternatives.show_token(index, self.tokens[index], "the text")

    def token_start(self, index: int) -> int | None:
        """Where token `index`'s text begins in the notebook (Qt's position), or None when
        none of it is there any more (edited away, or undone)."""
        block = self.editor.document().begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                fragment = it.fragment()
                if fragment.charFormat().property(TOKEN_INDEX) == index:
                    return fragment.position()
                it += 1
            block = block.next()
        return None

    def fork(self, index: int, choice: str) -> bool:
        """Cut the text at token `index` (it and all after it go), put `choice` in its place
        and begin a continuation after it, all one undo step: Ctrl+Z brings back the text as
        it was before the fork. A model alternative goes in the generated colour with its
        record (hover shows its odds); typed text in the plain colour, as all typing. False
        when the token is no longer in the text."""
        start = self.token_start(index)
        if start is None or not choice:
            return False
        document = self.editor.document()
        cursor = QTextCursor(document)
        cursor.beginEditBlock()
        cursor.setPosition(start)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        record = choice_record(self.tokens[index], choice)
        if record.token_id == TYPED:
            cursor.insertText(choice, self._plain)
        else:
            self.tokens.append(record)
            cursor.insertText(
                choice, token_format(len(self.tokens) - 1, self._generated, record, False)
            )
        cursor.setBlockFormat(cursor.blockFormat())  # typing next is its own step (set_text)
        cursor.endEditBlock()
        self.alternatives.hide()
        self.begin_continuation()
        self._joining = document.availableUndoSteps()
        self.editor.moveCursor(QTextCursor.MoveOperation.End)
        return True

    def append_generated(self, text: str, tokens: Sequence[p.Token] = ()) -> None:
        """Append generated text; each token's stretch remembers the token, for the hover chart."""
        if not text or self._continuation is None:
            return
        document = self.editor.document()
        cursor = QTextCursor(document)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        # A fork's continuation is part of the fork's undo step, unless the person has made a
        # step of their own since (typed, or undid): then it is one, as any continuation.
        joining = self._joining is not None and document.availableUndoSteps() == self._joining
        if joining:
            cursor.joinPreviousEditBlock()
        else:
            self._joining = None
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
        if joining:
            cursor.endEditBlock()
            self._joining = document.availableUndoSteps()  # it counts the commands joined
        start, so_far = self._continuation
        self._continuation = (start, so_far + text)
        self.editor.ensureCursorVisible()

    def end_continuation(self) -> None:
        self._joining = None
        self.undo_button.setEnabled(bool(self._continuation and self._continuation[1]))

    def undo_continuation(self) -> bool:
        """Remove the last continuation, if the text there is still what the model wrote."""
        if not self._continuation:
            return False
        start, text = self._continuation
        if self.text[start : start + len(text)] != text:
            self.undo_button.setEnabled(False)
            return False
        # Qt counts positions in UTF-16 units (an emoji is two), the text here in characters.
        before = _units(self.text[:start])
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(before)
        cursor.setPosition(before + _units(text), QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        self._continuation = None
        self.undo_button.setEnabled(False)
        return True

    def insert_scaffold(self, scaffold: Scaffold) -> None:
        """Put a scaffold at the cursor (or fill an empty notebook), a blank line apart from
        the text around it, as one undo step; the cursor ends where the model goes on."""
        if not self.text.strip():
            self.set_text(scaffold.text)
        else:
            cursor = self.editor.textCursor()
            cursor.clearSelection()
            # Qt counts positions in UTF-16 units: an emoji before the cursor is two of them.
            units = self.text.encode("utf-16-le")
            before = units[: cursor.position() * 2].decode("utf-16-le")
            after = units[cursor.position() * 2 :].decode("utf-16-le")
            inserted = set_apart(before, after, scaffold.text)
            cursor.insertText(inserted, self._plain)
            trailing = len(inserted) - len(inserted.rstrip("\n"))  # the model goes on before them
            cursor.setPosition(cursor.position() - trailing)
            self.editor.setTextCursor(cursor)
        self.scaffold_inserted.emit(scaffold)
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
        self._busy = busy
        if busy:
            self.alternatives.hide()  # no fork while the text grows: see _token_clicked
        self.continue_button.setEnabled(not busy)
        self.scaffolds.setEnabled(not busy)  # the continuation is appended where it began
        if busy:
            self.undo_button.setEnabled(False)
