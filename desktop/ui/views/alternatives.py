"""The alternatives panel: a clicked token's top choices, or text you type, to fork from.

Any view of generated tokens (the raw notebook, a chat reply, a compare column) shows it for a
clicked token; picking a choice asks the view's owner to continue from there.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.chat.fork import check_choice
from desktop.core.chat.tokens import TokenRecord
from desktop.core.errors import InvalidPrompt
from desktop.ui.icons import icon
from desktop.ui.plain_tips import plain_tip

CHOICE_TIP = "Replace this token with {choice} and let the model go on from there"
WRITTEN_TIP = "What the model wrote here (ticked): choose it to go on again from this point"


def shown(piece: str) -> str:
    """A token's text as a button shows it: quoted, with whitespace made visible."""
    return repr(piece)


class AlternativesPanel(QFrame):
    """Hidden until `show_token`; emits `fork_requested(index, choice)`."""

    fork_requested = Signal(int, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName("Alternatives")
        self.index = -1
        self.title = QLabel("")
        self.title.setTextFormat(Qt.TextFormat.PlainText)  # tokens are model-made text
        self.title.setWordWrap(True)
        self.close_button = QToolButton(self)
        self.close_button.setIcon(icon("x"))
        self.close_button.setAutoRaise(True)
        self.close_button.setAccessibleName("Close the alternatives")
        self.close_button.clicked.connect(self.hide)
        self.choices = QHBoxLayout()
        self.choices.setSpacing(4)
        self.own = QLineEdit()
        self.own.setPlaceholderText("…or type your own text")
        # No max length: a paste cut short without a word would fork with text never chosen.
        # Too long is refused with a note instead (_own_chosen).
        self.own.setAccessibleName("Your own text instead of this token")
        self.own.returnPressed.connect(self._own_chosen)
        self.go = QPushButton(icon("git-branch"), "Continue from here")
        self.go.setToolTip("Replace the token with what you typed and go on from there")
        self.go.clicked.connect(self._own_chosen)
        self.note = QLabel("")
        self.note.setObjectName("alternatives-note")
        self.note.setWordWrap(True)
        self.note.setAccessibleName("Why the text was refused")
        self.note.hide()
        self.own.textEdited.connect(lambda _text: self.note.hide())  # shortened: ask again
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.close_button)
        typed = QHBoxLayout()
        typed.addWidget(self.own, 1)
        typed.addWidget(self.go)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 6)
        layout.addLayout(head)
        layout.addLayout(self.choices)
        layout.addLayout(typed)
        layout.addWidget(self.note)
        self.buttons: list[QPushButton] = []
        self.hide()

    def show_token(self, index: int, token: TokenRecord, where: str = "") -> None:
        """Offer token `index`'s alternatives (its own among them, marked)."""
        self.index = index
        self.title.setText(
            f"Fork at token {index} {shown(token.piece)}{f' of {where}' if where else ''}: "
            "continue with another choice"
        )
        for button in self.buttons:
            self.choices.removeWidget(button)
            button.deleteLater()
        self.buttons = []
        for alt in token.top:
            # "&" would be taken for a mnemonic marker and vanish.
            label = f"{shown(alt.text)} {math.exp(alt.logprob):.0%}".replace("&", "&&")
            written = alt.token_id == token.token_id
            button = QPushButton(icon("check") if written else QIcon(), label)
            button.setToolTip(
                WRITTEN_TIP if written else plain_tip(CHOICE_TIP.format(choice=shown(alt.text)))
            )
            button.setAccessibleName(f"Continue with {shown(alt.text)}")
            button.clicked.connect(lambda _=False, text=alt.text: self._chosen(text))
            self.choices.addWidget(button)
            self.buttons.append(button)
        self.own.clear()
        self.note.hide()
        self.show()

    def _own_chosen(self) -> None:
        text = self.own.text()
        if not text:
            return
        try:
            check_choice(text)
        except InvalidPrompt as exc:  # kept in the box, to be shortened
            self.note.setText(str(exc))
            self.note.show()
            return
        self._chosen(text)

    def _chosen(self, text: str) -> None:
        self.hide()
        self.fork_requested.emit(self.index, text)
