"""Generated text as tokens: hover or click one to see the model's top alternatives with their
probabilities as a small bar chart; a heat view colours each token by how likely it was."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QPoint, QSizeF, Qt, Signal
from PySide6.QtGui import QColor, QHelpEvent, QMouseEvent, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import QFrame, QPlainTextEdit, QSizePolicy, QTextEdit, QToolTip, QWidget

from desktop.core.chat.tokens import TokenRecord
from desktop.ui import theme

TOKEN_INDEX = QTextFormat.Property.UserProperty + 1


def heat_colour(probability: float | None) -> QColor:
    """The theme's danger red for unlikely tokens, fading to nothing for near-certain ones
    (translucent: it reads on the light and the dark page alike)."""
    if probability is None:
        return QColor(0, 0, 0, 0)
    alpha = int(200 * (1.0 - probability) ** 1.5)
    colour = QColor(theme.current().danger)
    colour.setAlpha(alpha)
    return colour


def probability_chart(token: TokenRecord) -> str:
    """Rich-text tooltip: the chosen token and its alternatives as bars."""
    rows = []
    colours = theme.current()
    chosen = token.probability
    head = f"<b>{_show(token.piece)}</b>"
    if chosen is not None:
        head += f" &nbsp; p = {chosen:.3f} (log-prob {token.logprob:.2f})"
    for alt in token.top:
        p = math.exp(alt.logprob)
        width = max(1, int(120 * p))
        colour = colours.accent if alt.token_id == token.token_id else colours.muted
        rows.append(
            f"<tr><td style='font-family:monospace'>{_show(alt.text)}</td>"
            f"<td><table cellspacing=0 cellpadding=0><tr><td bgcolor='{colour}' width={width} height=9></td>"
            f"</tr></table></td><td align=right>{p:.1%}</td></tr>"
        )
    table = (
        f"<table cellspacing=2>{''.join(rows)}</table>"
        if rows
        else "<i>no alternatives recorded</i>"
    )
    return f"{head}<br>{table}"


def _show(piece: str) -> str:
    return html.escape(repr(piece)[1:-1]) or "&nbsp;"


class TokenHover(QObject):
    """Tooltips for token-tagged text in any QTextEdit or QPlainTextEdit: each generated
    fragment carries its token's index in its character format. A click on a token (not the
    end of a text selection) emits `clicked` with its index: the alternatives panel's cue."""

    clicked = Signal(int)

    def __init__(self, editor: QTextEdit | QPlainTextEdit, tokens: list[TokenRecord]) -> None:
        super().__init__(editor)
        self.editor = editor
        self.tokens = tokens
        editor.viewport().installEventFilter(self)
        editor.viewport().setMouseTracking(True)

    def index_at(self, point: QPoint) -> int | None:
        cursor = self.editor.cursorForPosition(point)
        if cursor.atBlockEnd() and not cursor.atBlockStart():
            cursor.movePosition(QTextCursor.MoveOperation.Left)
        cursor.movePosition(QTextCursor.MoveOperation.Right, QTextCursor.MoveMode.KeepAnchor)
        index = cursor.charFormat().property(TOKEN_INDEX)
        if isinstance(index, int) and 0 <= index < len(self.tokens):
            return index
        return None

    def token_at(self, point: QPoint) -> TokenRecord | None:
        index = self.index_at(point)
        return self.tokens[index] if index is not None else None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            token = self.token_at(event.pos())
            if token is not None:
                QToolTip.showText(event.globalPos(), probability_chart(token), self.editor)
            else:
                QToolTip.hideText()
            return True
        if event.type() == QEvent.Type.MouseButtonRelease and isinstance(event, QMouseEvent):
            index = self.index_at(event.position().toPoint())
            if index is not None:
                QToolTip.showText(
                    event.globalPosition().toPoint(),
                    probability_chart(self.tokens[index]),
                    self.editor,
                )
                if not self.editor.textCursor().hasSelection():
                    self.clicked.emit(index)
        return False


def token_format(
    index: int, base: QTextCharFormat, token: TokenRecord, heat: bool
) -> QTextCharFormat:
    fmt = QTextCharFormat(base)
    fmt.setProperty(TOKEN_INDEX, index)
    if heat:
        fmt.setBackground(heat_colour(token.probability))
    return fmt


class TokenView(QTextEdit):
    """Read-only generated text, token by token, with hover charts, heat colours and a marker
    on the token where two columns part ways."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setAccessibleName("Generated text")
        self.tokens: list[TokenRecord] = []
        self.texts: list[str] = []
        self.heat = False
        self.marked: int | None = None
        self.hover = TokenHover(self, self.tokens)
        # Another model's tokenization shown over this text (a token shift), and this view's
        # own tokens to come back to.
        self.backgrounds: list[QColor] | None = None
        self._own: tuple[list[TokenRecord], list[str]] | None = None

    def fit_to_text(self) -> None:
        """Be as tall as the text, at any width, instead of scrolling: for a token view inside
        a chat bubble, where the conversation scrolls. A height computed once, before the
        view has its width, left a two-line box with its own scroll bar."""
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().documentLayout().documentSizeChanged.connect(self._fit)
        self._fit(self.document().size())

    def _fit(self, size: QSizeF) -> None:
        margins = self.contentsMargins()
        height = math.ceil(size.height()) + margins.top() + margins.bottom()
        if height != self.height():
            self.setFixedHeight(height)

    def clear_tokens(self) -> None:
        self.tokens.clear()
        self.texts.clear()
        self.marked = None
        self.backgrounds, self._own = None, None
        self.clear()

    def overlay(self, records: Sequence[TokenRecord], backgrounds: Sequence[QColor]) -> None:
        """Show the same text cut into another model's tokens, each on its own background,
        hovering to that model's choices; `show_own` brings this view's tokens back."""
        if self._own is None:
            self._own = (list(self.tokens), list(self.texts))
        # In place: the hover reads this very list.
        self.tokens[:] = records
        self.texts[:] = [r.piece for r in records]
        self.backgrounds = list(backgrounds)
        self._redraw()

    def show_own(self) -> None:
        if self._own is not None:
            self.tokens[:], self.texts[:] = self._own
            self._own = None
        self.backgrounds = None
        self._redraw()

    @property
    def overlaid(self) -> bool:
        return self._own is not None

    def append_tokens(self, records: Sequence[TokenRecord], texts: Sequence[str]) -> None:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        for record, text in zip(records, texts, strict=True):
            self.tokens.append(record)
            self.texts.append(text)
            cursor.insertText(
                text, token_format(len(self.tokens) - 1, QTextCharFormat(), record, self.heat)
            )
        self.ensureCursorVisible()

    def set_heat(self, on: bool) -> None:
        self.heat = on
        self._redraw()

    def mark(self, index: int | None) -> None:
        """Underline and outline the token at `index` (the first divergence)."""
        self.marked = index
        self._redraw()

    def _redraw(self) -> None:
        self.clear()
        cursor = QTextCursor(self.document())
        for i, (record, text) in enumerate(zip(self.tokens, self.texts, strict=True)):
            fmt = token_format(i, QTextCharFormat(), record, self.heat)
            if self.backgrounds is not None:
                fmt.setBackground(self.backgrounds[i])
            elif i == self.marked:
                fmt.setFontUnderline(True)
                fmt.setUnderlineColor(theme.current().colour("warning"))
                fmt.setBackground(theme.current().colour("warning", 0.35))
                fmt.setToolTip("first token where the columns differ")
            cursor.insertText(text, fmt)
        if self.backgrounds is None and self.marked is not None and self.marked >= len(self.tokens):
            end = QTextCharFormat()
            end.setForeground(theme.current().colour("warning"))
            cursor.insertText(" ⟂ (stopped here)", end)

    @property
    def text(self) -> str:
        return "".join(self.texts)
