"""Chat mode: message bubbles, a system prompt, the input box.

Each bubble's header names who wrote it (the model, for a reply: a chat can mix models, with
the base/instruct dot), says when on hover, and has Copy; a reply's Tokens view asks for its
token records when first opened, so a reopened chat reads them only if they are looked at.

While a reply streams it is plain text, appended to; markdown is rendered once, when the
reply is done. Re-rendering markdown on every token is quadratic in the reply's length.

A click on a token in a reply's token view opens the alternatives panel under the
conversation: a choice there forks that reply into a new branch that begins with the text
before the token and the choice (the window starts it; see ChatSession.fork_reply).

The keyboard stays in the input: a button that is disabled while it has the focus (Send and
Regenerate while a reply streams) would hand it to the next widget in the window, the History
search box, and the next words typed would filter the history instead.
"""

from __future__ import annotations

import re
import time

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QPainter, QPaintEvent, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.chat.conversation import Conversation
from desktop.core.chat.store import MessageInfo, ReplyTokens
from desktop.core.chat.tokens import TokenRecord
from desktop.core.models.catalog import ModelKind
from desktop.ui.icons import icon
from desktop.ui.views.alternatives import AlternativesPanel
from desktop.ui.views.tokens import TokenView
from desktop.ui.views.widgets import kind_icon

WHO = {"user": "You", "assistant": "Model", "system": "System"}
TOKENS_TIP = "Show the reply token by token: hover a token for its alternatives"
FORK_TIP = ", click one to fork the reply there"


def written(created: float) -> str:
    """A message's tooltip: when it was written, to the second."""
    return time.strftime("Written %Y-%m-%d %H:%M:%S", time.localtime(created))


class _LoadsNothing(QTextDocument):
    """A document that loads no resource a text names, and notes whether it named any."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = False

    def loadResource(self, type: int, name: QUrl | str) -> object:
        self.asked = True
        return None


# Inside a tag only: the reply's own words are in the HTML too, with `<` escaped, and a reply
# about CSS ("use background-image: url(...)") names no file.
_LOADS_A_FILE = re.compile(r"<(?:img\b|[^>]*(?:\bbackground=|background-image\s*:))")


def names_files(markdown: str) -> bool:
    """Whether showing this Markdown would load something: an image, a background or a style
    sheet. Qt reads each from the local file system (a relative name from the working
    folder) with no limit: `/dev/zero` takes the window's memory until it aborts, a pipe
    freezes it. Parsed here by a document that loads nothing."""
    document = _LoadsNothing()
    document.setMarkdown(markdown)
    if document.asked:  # a style sheet or a background, asked for while parsing
        return True
    html = document.toHtml()  # every image and background a page keeps is written here
    return _LOADS_A_FILE.search(html) is not None


class KindDot(QLabel):
    """The base/instruct dot beside a reply's model name, painted in the theme's colour each
    time (a pixmap set once would keep the old theme's colour)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(QSize(12, 12))
        self.kind: ModelKind | None = None

    def set_kind(self, kind: ModelKind) -> None:
        self.kind = kind
        self.setToolTip(f"{kind} model")
        self.setAccessibleName(f"{kind} model")
        self.show()
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.kind is not None:
            painter = QPainter(self)
            kind_icon(self.kind).paint(painter, self.rect())
            painter.end()


class Bubble(QFrame):
    edit = Signal(int)
    branch = Signal(int, int)  # message index, -1 or +1
    tokens_wanted = Signal(int)  # message index: its token records are asked for
    token_clicked = Signal(int, int)  # message index, token index: fork there?

    def __init__(
        self,
        index: int,
        role: str,
        text: str,
        parent: QWidget | None = None,
        info: MessageInfo | None = None,
    ) -> None:
        super().__init__(parent)
        self.index, self.role = index, role
        self.kind = ""  # base or instruct: the reply's model's, when known
        self.setObjectName(f"bubble-{role}")
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        self.kind_dot = KindDot(self)
        self.kind_dot.hide()
        header.addWidget(self.kind_dot)
        self.who = QLabel(WHO.get(role, role), self)
        self.who.setTextFormat(Qt.TextFormat.PlainText)  # a server names its models
        font = self.who.font()
        font.setBold(True)
        self.who.setFont(font)
        header.addWidget(self.who)
        self.dropped_label = QLabel("not seen by the model: the context is full")
        self.dropped_label.setEnabled(False)
        self.dropped_label.hide()
        header.addWidget(self.dropped_label)
        header.addStretch(1)
        self.branch_prev = QToolButton(self)
        self.branch_prev.setIcon(icon("chevron-left"))
        self.branch_prev.setToolTip("Previous alternative")
        self.branch_prev.setAccessibleName("Previous alternative")
        self.branch_prev.clicked.connect(lambda: self.branch.emit(self.index, -1))
        self.branch_label = QLabel("")
        self.branch_label.setAccessibleName("Alternative number")
        self.branch_next = QToolButton(self)
        self.branch_next.setIcon(icon("chevron-right"))
        self.branch_next.setToolTip("Next alternative")
        self.branch_next.setAccessibleName("Next alternative")
        self.branch_next.clicked.connect(lambda: self.branch.emit(self.index, +1))
        for widget in (self.branch_prev, self.branch_label, self.branch_next):
            widget.hide()
            header.addWidget(widget)
        self.tokens_button = QToolButton(self)
        self.tokens_button.setText("Tokens")  # kept as its name; the icon is what shows
        self.tokens_button.setIcon(icon("chart-column"))
        self.tokens_button.setAutoRaise(True)
        self.tokens_button.setCheckable(True)
        self.tokens_button.setToolTip(TOKENS_TIP + FORK_TIP)
        self.tokens_button.setAccessibleName("Show token probabilities")
        self.tokens_button.toggled.connect(self._show_tokens)
        self.tokens_button.hide()
        header.addWidget(self.tokens_button)
        self.copy_button = QToolButton(self)
        self.copy_button.setIcon(icon("copy"))
        self.copy_button.setAutoRaise(True)
        self.copy_button.setToolTip("Copy this message's text")
        self.copy_button.setAccessibleName("Copy message")
        self.copy_button.setObjectName("copy-button")
        self.copy_button.clicked.connect(self.copy)
        header.addWidget(self.copy_button)
        if role == "user":
            button = QToolButton(self)
            button.setText("Edit")
            button.setIcon(icon("pencil"))
            button.setAutoRaise(True)
            button.setToolTip(
                "Edit this message and send it again as a new branch (Cancel or Esc brings the "
                "chat back)"
            )
            button.setObjectName("edit-button")
            button.setAccessibleName("Edit message")
            button.clicked.connect(lambda: self.edit.emit(self.index))
            header.addWidget(button)
        self.body = QLabel(self)
        self.body.setWordWrap(True)
        self.body.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        self.body.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.body.setAccessibleName(f"{role} message")
        self.box = QVBoxLayout(self)  # kept: QWidget.layout() is typed as maybe None
        self.box.setContentsMargins(10, 6, 10, 8)
        self.box.addLayout(header)
        self.box.addWidget(self.body)
        self.token_view: TokenView | None = None
        self.records: list[TokenRecord] = []
        self.record_texts: list[str] = []
        self.raw_text = ""
        if info is not None:
            self.set_info(info)
        if text:
            self.set_markdown(text)

    def set_info(self, info: MessageInfo) -> None:
        """When the message was written (on hover), and for a reply the model that wrote it
        with its base/instruct dot; a reply whose token records are kept gets Tokens."""
        if info.created is not None:
            self.setToolTip(written(info.created))
        if self.role == "assistant" and info.model_id:
            self.who.setText(info.model_id)
            self.who.setAccessibleName(f"Reply by {info.model_id}")
        if self.role == "assistant" and info.model_kind in ("base", "instruct"):
            self.kind = info.model_kind
            self.kind_dot.set_kind("base" if info.model_kind == "base" else "instruct")
        if info.has_tokens:
            self.tokens_button.show()

    def copy(self) -> None:
        """The message's text as written (markdown source, not the rendered page)."""
        QApplication.clipboard().setText(self.raw_text)

    def set_branch(self, position: int, count: int) -> None:
        """Show "2/3" with arrows when this message has alternatives."""
        shown = count > 1
        for widget in (self.branch_prev, self.branch_label, self.branch_next):
            widget.setVisible(shown)
        self.branch_label.setText(f"{position + 1}/{count}")
        self.branch_prev.setEnabled(position > 0)
        self.branch_next.setEnabled(position < count - 1)

    def set_dropped(self, dropped: bool) -> None:
        self.dropped_label.setVisible(dropped)
        self.setEnabled(not dropped)

    def set_fork_note(self, blocked: str) -> None:
        """The Tokens tooltip: a click on a token forks the reply, or why it cannot."""
        self.tokens_button.setToolTip(TOKENS_TIP + (f". {blocked}" if blocked else FORK_TIP))

    def set_tokens(self, records: list[TokenRecord], texts: list[str]) -> None:
        self.records, self.record_texts = records, texts
        self.tokens_button.setVisible(bool(records))

    def _show_tokens(self, on: bool) -> None:
        if on and not self.records:
            self.tokens_wanted.emit(self.index)  # answered at once, with set_tokens
            if not self.records:  # not kept after all (a damaged record): no Tokens view
                self.tokens_button.setChecked(False)
                self.tokens_button.hide()
                return
        if on and self.token_view is None:
            self.token_view = TokenView(self)
            self.token_view.fit_to_text()  # as tall as the reply: no box with its own scroll
            self.token_view.append_tokens(self.records, self.record_texts)
            self.token_view.hover.clicked.connect(
                lambda token: self.token_clicked.emit(self.index, token)
            )
            self.box.addWidget(self.token_view)
        if self.token_view is not None:
            self.token_view.setVisible(on)
        self.body.setVisible(not on)

    def set_plain(self, text: str) -> None:
        self.raw_text = text
        self.body.setTextFormat(Qt.TextFormat.PlainText)
        self.body.setText(text)

    def set_markdown(self, text: str) -> None:
        """Rendered as Markdown, unless it names an image or anything else Qt would load: a
        model's reply is shown, never acted on, so such a text is shown as written."""
        self.raw_text = text
        plain = names_files(text)
        self.body.setTextFormat(Qt.TextFormat.PlainText if plain else Qt.TextFormat.MarkdownText)
        self.body.setText(text)


class EditingBar(QFrame):
    """Above the input while a message is edited: what Send will do, and Cancel."""

    cancel = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("editing-bar")
        self.setAccessibleName("Editing a message")
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop editing and bring the chat back as it was (Esc)")
        self.cancel_button.setAccessibleName("Cancel editing")
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 4, 4, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.cancel_button)
        # Styled by resources/theme/duet.qss (#editing-bar).
        self.hide()

    def show_index(self, index: int) -> None:
        self.label.setText(
            f"Editing message {index + 1} — Send replaces it as a new branch; "
            "Cancel restores the chat"
        )
        self.show()


class ChatView(QWidget):
    send = Signal(str)
    regenerate = Signal()
    edit = Signal(int)
    cancel_edit = Signal()
    branch = Signal(int, int)
    tokens_wanted = Signal(int)  # a bubble's Tokens was opened: answer with show_tokens
    fork_requested = Signal(int, int, str)  # message index, token index, what takes its place
    SHOWN = 40  # bubbles built at once; older ones wait behind "Show earlier messages"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.system = QLineEdit(self)
        self.system.setPlaceholderText("System prompt (optional): works with every model")
        self.system.setAccessibleName("System prompt")

        self.area = QScrollArea(self)
        self.area.setWidgetResizable(True)
        self.area.setFrameShape(QFrame.Shape.NoFrame)
        # Bubbles wrap to the width: a chat never scrolls sideways.
        self.area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.container = QWidget()
        # The bubbles are styled by name in the application's one style sheet
        # (resources/theme/duet.qss): a sheet per bubble makes Qt re-polish each one, which
        # dominated opening a long chat.
        self.area.setObjectName("conversation")
        self.container.setObjectName("conversation-column")
        self.column = QVBoxLayout(self.container)
        self.column.setSpacing(8)
        self.column.addStretch(1)
        self.area.setWidget(self.container)
        self.area.setAccessibleName("Conversation")
        self.placeholder = QLabel(
            "Ask something. An instruct model answers; a base model continues the transcript."
        )
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setEnabled(False)
        self.column.insertWidget(0, self.placeholder)
        self.earlier = QPushButton("Show earlier messages", self.container)
        self.earlier.setAccessibleName("Show earlier messages")
        self.earlier.clicked.connect(self.show_earlier)
        self.earlier.hide()
        self.column.insertWidget(0, self.earlier)
        self.conversation = Conversation()
        self.branches: dict[int, tuple[int, int]] = {}
        self.first_shown = 0

        self.input = QPlainTextEdit(self)
        self.input.setPlaceholderText("Message (Ctrl+Enter to send)")
        self.input.setAccessibleName("Message")
        self.input.setMaximumHeight(96)
        self.send_button = QPushButton("Send", self)
        self.send_button.setToolTip("Send (Ctrl+Enter)")
        self.send_button.setAccessibleName("Send")
        self.send_button.setProperty("primary", True)  # the accent button (duet.qss)
        self.send_button.clicked.connect(self._send)
        self.regen_button = QPushButton("Regenerate", self)
        self.regen_button.setToolTip("Replace the last reply with a new one")
        self.regen_button.setAccessibleName("Regenerate last reply")
        self.regen_button.clicked.connect(self.regenerate)
        self.editing_bar = EditingBar(self)
        self.editing_bar.cancel.connect(self.cancel_edit)
        self._forking = -1  # the message whose token the panel shows
        self.alternatives = AlternativesPanel(self)
        self.alternatives.fork_requested.connect(
            lambda token, choice: self.fork_requested.emit(self._forking, token, choice)
        )
        self.fork_blocked = ""  # why no reply can be forked with this model ("" when it can)
        self.editing: int | None = None  # the message being edited
        self._draft = ""  # what the input held before the edit began
        self._busy = False
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.regen_button)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addLayout(buttons)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.system)
        layout.addWidget(self.area, 1)
        layout.addWidget(self.alternatives)
        layout.addWidget(self.editing_bar)
        layout.addLayout(row)
        self.bubbles: list[Bubble] = []
        self.streaming: Bubble | None = None

    # Conversation display -------------------------------------------------------------------

    def show_conversation(
        self,
        conversation: Conversation,
        branches: dict[int, tuple[int, int]] | None = None,
        shown: int | None = None,
    ) -> None:
        """Show a conversation: its last messages as bubbles (older ones on request), each
        with its alternatives' "2/3" where it has some, and the turns the model no longer sees
        greyed out."""
        # A click on a bubble's arrow or Edit button leaves the focus in the conversation (or
        # on a bubble about to go): the next words typed belong in the input.
        focus = QApplication.focusWidget()
        if focus is not None and (focus is self.area or self.area.isAncestorOf(focus)):
            self.input.setFocus()
        for bubble in self.bubbles:
            bubble.deleteLater()
        self.bubbles = []
        self.streaming = None
        self.alternatives.hide()  # its message may be gone, or at another place
        self.conversation = conversation
        self.branches = branches or {}
        total = len(conversation.messages)
        self.first_shown = max(0, total - (shown or self.SHOWN))
        self.earlier.setVisible(self.first_shown > 0)
        self.earlier.setText(f"Show earlier messages ({self.first_shown})")
        for index in range(self.first_shown, total):
            message = conversation.messages[index]
            bubble = self.add_bubble(
                message.role, message.content, index, scroll=False, info=conversation.info(index)
            )
            if index in self.branches:
                bubble.set_branch(*self.branches[index])
            bubble.set_dropped(index < conversation.dropped)
        self.placeholder.setVisible(not self.bubbles)
        self._scroll_to_end()

    def set_branches(self, branches: dict[int, tuple[int, int]]) -> None:
        """Each message's place among its alternatives ("2/3"), kept for when more messages
        are shown."""
        self.branches = branches
        for bubble in self.bubbles:
            if bubble.index in branches:
                bubble.set_branch(*branches[bubble.index])

    def show_earlier(self) -> None:
        total = len(self.conversation.messages)
        self.show_conversation(
            self.conversation, self.branches, shown=total - self.first_shown + self.SHOWN
        )

    def mark_dropped(self, dropped: int) -> None:
        for bubble in self.bubbles:
            bubble.set_dropped(bubble.index < dropped)

    def add_bubble(
        self,
        role: str,
        text: str,
        index: int | None = None,
        scroll: bool = True,
        info: MessageInfo | None = None,
    ) -> Bubble:
        if index is None:
            index = self.first_shown + len(self.bubbles)
        bubble = Bubble(index, role, text, self.container, info or MessageInfo(time.time()))
        bubble.edit.connect(self.edit)
        bubble.branch.connect(self.branch)
        bubble.tokens_wanted.connect(self.tokens_wanted)
        bubble.token_clicked.connect(self._token_clicked)
        bubble.set_fork_note(self.fork_blocked)
        self.column.insertWidget(self.column.count() - 1, bubble)
        self.bubbles.append(bubble)
        self.placeholder.hide()
        if scroll:
            self._scroll_to_end()
        return bubble

    def set_fork_blocked(self, reason: str) -> None:
        """Whether a reply can be forked with the model chosen: "" when it can, else why not
        (said in each reply's Tokens tooltip)."""
        self.fork_blocked = reason
        if reason:
            self.alternatives.hide()
        for bubble in self.bubbles:
            bubble.set_fork_note(reason)

    def _token_clicked(self, index: int, token: int) -> None:
        """A token of reply `index` was clicked: offer its alternatives. Not while a reply
        streams or a message is edited (as Regenerate), nor with a model that cannot fork."""
        if self._busy or self.editing is not None or self.fork_blocked:
            return
        bubble = next((b for b in self.bubbles if b.index == index), None)
        if bubble is None or not 0 <= token < len(bubble.records):
            return
        self._forking = index
        self.alternatives.show_token(token, bubble.records[token], f"message {index + 1}")

    def show_tokens(self, index: int, tokens: ReplyTokens | None) -> None:
        """The token records of message `index`, asked for by its bubble (None: not kept)."""
        bubble = next((b for b in self.bubbles if b.index == index), None)
        if bubble is not None and tokens is not None:
            bubble.set_tokens(list(tokens.records), list(tokens.texts))

    def begin_reply(self, info: MessageInfo | None = None) -> None:
        """A reply bubble to stream into, labelled with the model writing it."""
        self.streaming = self.add_bubble("assistant", "", info=info)
        self.streaming.set_plain("…")
        self.streaming.raw_text = ""

    def append_reply(self, text: str) -> None:
        if self.streaming is None:
            return
        self.streaming.set_plain(self.streaming.raw_text + text)
        self._scroll_to_end()

    def finish_reply(
        self, text: str, records: list[TokenRecord] | None = None, texts: list[str] | None = None
    ) -> None:
        if self.streaming is not None:
            self.streaming.set_markdown(text)
            if records:
                self.streaming.set_tokens(records, texts or [r.piece for r in records])
            self.streaming = None
            self._scroll_to_end()

    def drop_reply(self) -> None:
        """Remove an unfinished reply bubble (the engine failed before it said anything)."""
        if self.streaming is not None and not self.streaming.raw_text:
            self.bubbles.remove(self.streaming)
            self.streaming.deleteLater()
            self.streaming = None

    def set_busy(self, busy: bool) -> None:
        focus = QApplication.focusWidget()
        if focus is None or focus in (self.send_button, self.regen_button):
            self.input.setFocus()  # before the button is disabled and passes the focus on
        self._busy = busy
        if busy:
            self.alternatives.hide()  # see _token_clicked
        self.send_button.setEnabled(not busy)
        self.regen_button.setEnabled(not busy and self.editing is None)

    def begin_edit(self, index: int, text: str) -> None:
        """Show the editing bar for message `index` and put its text in the input; what the
        input held is kept for when the edit ends."""
        if self.editing is None:
            self._draft = self.input.toPlainText()
        self.editing = index
        self.editing_bar.show_index(index)
        self.alternatives.hide()  # see _token_clicked
        self.placeholder.hide()  # "Ask something" is not what the empty space above means now
        self.regen_button.setEnabled(False)  # it would regenerate a reply above the edit
        self.replace_input(text)
        self.input.setFocus()

    def end_edit(self) -> None:
        """Hide the editing bar and give the input back the text it held before the edit
        (undoable: Ctrl+Z in the input brings back the edited text)."""
        if self.editing is None:
            return
        self.editing = None
        self.editing_bar.hide()
        self.regen_button.setEnabled(not self._busy)
        self.replace_input(self._draft)
        self._draft = ""
        self.input.setFocus()

    def replace_input(self, text: str) -> None:
        """Put `text` in the input as one undoable step (setPlainText would clear the undo
        history, and with it what the input held)."""
        if text == self.input.toPlainText():
            return
        cursor = QTextCursor(self.input.document())
        cursor.beginEditBlock()
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.insertText(text)
        cursor.setBlockFormat(cursor.blockFormat())  # typing next is its own step (see raw.py)
        cursor.endEditBlock()
        self.input.moveCursor(QTextCursor.MoveOperation.End)

    def take_input(self) -> str:
        text = self.input.toPlainText()
        self.input.clear()
        return text

    def _send(self) -> None:
        if self.input.toPlainText().strip():
            self.send.emit(self.take_input())

    def _scroll_to_end(self) -> None:
        bar = self.area.verticalScrollBar()
        QTimer.singleShot(0, lambda: bar.setValue(bar.maximum()))
