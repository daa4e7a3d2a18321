"""The welcome page, shown at the first start when models are installed (the starter pair comes
with Duet): what Duet is for, each guided experiment as a one-click button, a link to "What is
the difference?", and Start chatting. Leaving it by an experiment or Start chatting is saved
(the `welcomed` setting), so later starts open on the workspace; Help › Welcome page brings it
back. With no model installed the first-run page (first_run.py) is shown instead."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCommandLinkButton,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop.core.experiments import EXPERIMENTS, Experiment
from desktop.ui.experiments import DIFFERENCE_LINK


def _report(line: str) -> None:
    # The installed app's start tests read which page a start shows from stderr, as they do
    # for the first-run page (DUET_PRINT_STARTUP).
    if os.environ.get("DUET_PRINT_STARTUP"):
        print(f"welcome page: {line}", file=sys.stderr, flush=True)


class WelcomePage(QWidget):
    experiment_chosen = Signal(str)  # an experiment's id: the window runs it
    start_chatting = Signal()
    difference = Signal()  # the "What is the difference?" page

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("<h2>Welcome to Duet</h2>")
        title.setAccessibleName("Welcome to Duet")
        about = QLabel(
            "Duet shows what instruction tuning does to a language model: it runs a base model, "
            "trained only to continue text, beside an instruct model, tuned to follow requests, "
            "on this computer and offline. Each experiment below runs in one click on the "
            "installed pair (the starter pair, which comes with Duet), says what to look for, "
            "and leaves everything editable."
        )
        about.setWordWrap(True)
        about.setAccessibleName("What Duet is for")

        heading = QLabel("<b>Try this</b> (also in the <i>Try this</i> menu)")
        self.experiment_buttons: dict[str, QCommandLinkButton] = {}
        buttons = QVBoxLayout()
        buttons.setSpacing(2)
        for experiment in EXPERIMENTS:
            button = self._experiment_button(experiment)
            self.experiment_buttons[experiment.id] = button
            buttons.addWidget(button)

        self.difference_link = QLabel(
            f"<a href='{DIFFERENCE_LINK}'>What is the difference?</a> Base and instruct "
            "models in a page: how each is trained and when to use which."
        )
        self.difference_link.setWordWrap(True)
        self.difference_link.setAccessibleName("What is the difference?")
        # Tab reaches the link and Enter opens it, as a click does.
        self.difference_link.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        self.difference_link.linkActivated.connect(lambda _link: self.difference.emit())

        self.start_button = QPushButton("Start chatting")
        self.start_button.setAccessibleName("Start chatting")
        self.start_button.setToolTip("The chat, ready for your first message")
        self.start_button.clicked.connect(self.start_chatting)

        content = QWidget()
        column = QVBoxLayout(content)
        column.setContentsMargins(32, 16, 32, 8)
        column.addWidget(title)
        column.addWidget(about)
        column.addSpacing(8)
        column.addWidget(heading)
        column.addLayout(buttons)
        column.addStretch(1)

        # The experiments and their sentences are taller than a 1024x640 window leaves between
        # the docks: they scroll, while the link and Start chatting stay in sight below them.
        self.scroll_area = QScrollArea(self)
        self.scroll_area.setWidget(content)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setAccessibleName("Welcome page")
        footer = QHBoxLayout()
        footer.setContentsMargins(32, 8, 32, 12)
        footer.addWidget(self.difference_link, 1)
        footer.addWidget(self.start_button, 0, Qt.AlignmentFlag.AlignVCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.scroll_area, 1)
        layout.addLayout(footer)
        # Tab in reading order: the experiments, then the link, then Start chatting.
        QWidget.setTabOrder(list(self.experiment_buttons.values())[-1], self.difference_link)
        QWidget.setTabOrder(self.difference_link, self.start_button)

    def _experiment_button(self, experiment: Experiment) -> QCommandLinkButton:
        # A command link: the title, and under it a sentence that wraps with the page's width.
        button = QCommandLinkButton(experiment.title, experiment.first_look)
        button.setAccessibleName(f"Try this: {experiment.title}")
        button.setAccessibleDescription(experiment.look_for)
        button.setToolTip(experiment.look_for)
        button.clicked.connect(self._chooser(experiment.id))
        return button

    def _chooser(self, experiment_id: str) -> Callable[[], None]:
        return lambda: self.experiment_chosen.emit(experiment_id)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        first = next(iter(self.experiment_buttons.values()), self.start_button)
        first.setFocus(Qt.FocusReason.OtherFocusReason)  # Enter runs it; Tab goes on
        self.scroll_area.ensureWidgetVisible(first)
        _report(
            f"offered: {len(self.experiment_buttons)} experiments, What is the difference?, "
            "Start chatting"
        )
