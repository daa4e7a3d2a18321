"""Guided experiments in the real windows: one click sets up the models, modes and text of an
experiment (desktop.core.experiments), runs it, and says what to look for; everything stays
editable afterwards. Also the "What is the difference?" page.

An experiment waits on the windows as a person would (a model to load, a run to end), by
polling their public state on a timer: the windows have no one signal for "ready", and a
bounded wait turns a model that never loads into a message rather than a hang."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.chat.scaffolds import scaffold_named
from desktop.core.compare.lineups import Seat
from desktop.core.experiments import Experiment, Role, Setup
from desktop.ui.app import resource
from desktop.ui.icons import icon

if TYPE_CHECKING:
    from desktop.ui.compare.window import CompareWindow
    from desktop.ui.main_window import MainWindow

POLL_MS = 100
# A model load and a short run take seconds on the starter pair; a slow disk or a large pair
# takes longer, but ten minutes without progress means something is wrong: say so, stop waiting.
MAX_WAIT_S = 600.0
DIFFERENCE_PAGE = "help/difference.md"
DIFFERENCE_LINK = "duet:difference"


class ExperimentBar(QFrame):
    """The experiment shown: its title and what to look for, until closed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")  # styled as the window's hints are
        self.setAccessibleName("Experiment")
        self.title = QLabel(self)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = QLabel(self)
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # it may quote an error
        self.status.setWordWrap(True)
        close = QToolButton(self)
        close.setIcon(icon("x"))
        close.setAutoRaise(True)
        close.setAccessibleName("Close the experiment's note")
        close.clicked.connect(self.hide)
        text = QVBoxLayout()
        text.addWidget(self.title)
        text.addWidget(self.label)
        text.addWidget(self.status)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 10, 6)
        row.addLayout(text, 1)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_experiment(self, experiment: Experiment) -> None:
        self.title.setText(f"Try this: {experiment.title}")
        self.label.setText(experiment.look_for)
        self.say("Setting up…")
        self.show()

    def say(self, text: str) -> None:
        self.status.setText(text)


def compare_bar(compare: CompareWindow) -> ExperimentBar:
    """The compare window's experiment note, made once, at the top of the window."""
    bar = compare.findChild(ExperimentBar)
    if bar is None:
        bar = ExperimentBar(compare)
        layout = compare.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertWidget(0, bar)
    return bar


class ExperimentRun(QObject):
    """One experiment applied to the window and run: a list of steps, each an action or a wait
    on the windows' state. `finished` carries "" when it ran to the end, else why not."""

    finished = Signal(str)

    def __init__(self, window: MainWindow, experiment: Experiment) -> None:
        super().__init__(window)
        self.window = window
        self.experiment = experiment
        self.error = ""
        self.done = False
        self.bar: ExperimentBar = window.experiment_bar
        self._steps: list[tuple[str, Callable[[], bool]]] = []
        self._started = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._advance)

    # Starting ---------------------------------------------------------------------------------

    def start(self) -> None:
        window, experiment = self.window, self.experiment
        compare = window.compare_window
        if window.busy or (experiment.in_compare and compare is not None and compare.busy):
            self._end("Stop what is running first (Esc), then try the experiment again.")
            return
        ids = self._models()
        if ids is None:
            return
        if experiment.in_compare:
            window.open_compare()
            assert window.compare_window is not None
            self.bar = compare_bar(window.compare_window)
            self._compare_steps(window.compare_window, ids)
        else:
            assert experiment.main is not None
            self._main_steps(experiment.main, ids)
        self.bar.show_experiment(experiment)
        self._advance()
        if not self.done:
            self._timer.start()

    def _models(self) -> dict[Role, str] | None:
        """The installed pair the roles are filled with: the current model's catalog pair,
        else the starter pair, else the first two models (as the compare window picks)."""
        window = self.window
        if not window.models:
            self.bar.show_experiment(self.experiment)
            self._end(
                "Install a base and an instruct model first: the first-run page downloads the "
                "starter pair, and Models… (Ctrl+L) has more."
            )
            return None
        base, instruct = window.compare_defaults()
        return {"base": base, "instruct": instruct}

    def _main_steps(self, setup: Setup, ids: dict[Role, str]) -> None:
        window, experiment = self.window, self.experiment
        model_id = ids[setup.role]

        def prepare() -> bool:
            window.select_model(model_id)
            window.set_mode(setup.mode)
            if setup.mode == "raw":
                window.save_document()  # the notebook's text stays in History
                window.raw_view.open_document(experiment.input_text, None)
                window.save_document()
                if experiment.scaffold:
                    window.sampling.add_stops(scaffold_named(experiment.scaffold).stop)
            else:
                window.chat_view.system.setText(experiment.system)
                window.new()
            return True

        def loaded() -> bool:
            return (
                window.model is not None
                and window.model.id == model_id
                and window.runtime is not None
            )

        def send() -> bool:
            if setup.mode == "raw":
                window.continue_raw()
            else:
                window.send_chat(experiment.input_text)
            return self._started_or_fail(window.busy, "The model did not start: see the message.")

        self._steps = [
            ("setting up", prepare),
            (f"loading {model_id}", loaded),
            ("starting", send),
            (f"{model_id} is writing", lambda: not window.busy),
        ]
        if experiment.again_without_system:

            def again() -> bool:
                window.chat_view.system.setText("")
                window.regenerate()
                return self._started_or_fail(window.busy, "The reply could not be written again.")

            self._steps += [
                ("writing it again without the system prompt", again),
                (f"{model_id} is writing without the system prompt", lambda: not window.busy),
            ]

    def _compare_steps(self, compare: CompareWindow, ids: dict[Role, str]) -> None:
        experiment = self.experiment
        setups = experiment.columns

        def prepare() -> bool:
            seats = [Seat(ids[s.role], s.mode, aligned=s.aligned) for s in setups]
            if not compare.set_up(seats):
                return self._fail(
                    "The compare window could not set up the columns: "
                    + (compare.divergence.text() if not compare.busy else "stop its run first.")
                )
            compare.system.setText(experiment.system)
            compare.input.setPlainText(experiment.input_text)
            compare.run()
            return self._started_or_fail(compare.busy, "The comparison did not start.")

        self._steps = [
            ("setting up the columns", prepare),
            ("the columns are running", lambda: not compare.busy),
        ]
        if experiment.shift:

            def score() -> bool:
                compare.score(1)  # the instruct answer, by the next column's (base) model
                started = not compare.columns[1].score_button.isEnabled()
                return self._started_or_fail(started, "The answer could not be scored.")

            self._steps += [
                ("scoring the instruct answer with the base model", score),
                (
                    "the base model is scoring the answer",
                    lambda: compare.columns[1].score_button.isEnabled(),
                ),
            ]

    # Running ----------------------------------------------------------------------------------

    def _advance(self) -> None:
        """Run every step that can go now; stop at the first that must wait."""
        while self._steps and not self.done:
            what, step = self._steps[0]
            if not self._started:
                self._started = time.monotonic()
            if not step():
                if time.monotonic() - self._started > MAX_WAIT_S:
                    self._end(f"Stopped waiting after {MAX_WAIT_S:.0f} s: {what}.")
                else:
                    self.bar.say(f"{what.capitalize()}…")
                return
            self._steps.pop(0)
            self._started = 0.0
        if not self.done:
            self._end("")

    def _started_or_fail(self, started: bool, why: str) -> bool:
        return True if started else self._fail(why)

    def _fail(self, why: str) -> bool:
        self._end(why)
        return False

    def _end(self, error: str) -> None:
        if self.done:
            return
        self.done, self.error = True, error
        self._timer.stop()
        self.bar.say(error or "Done: everything is editable, so change the text and run it again.")
        self.finished.emit(error)


def run_experiment(window: MainWindow, experiment: Experiment) -> ExperimentRun:
    """Apply `experiment` to the window and run it; the returned run reports its end."""
    run = ExperimentRun(window, experiment)
    run.start()
    return run


# The difference page ------------------------------------------------------------------------


class DifferenceDialog(QDialog):
    """resources/help/difference.md, as a page beside the window (not modal: the person may
    want to try what it says)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("What is the difference?")
        self.resize(640, 620)
        self.browser = QTextBrowser(self)
        self.browser.setOpenLinks(False)  # offline: the page links nowhere
        self.browser.setAccessibleName("What is the difference")
        try:
            self.browser.setMarkdown(resource(DIFFERENCE_PAGE).read_text(encoding="utf-8"))
        except OSError as exc:  # a damaged install: say so where the page would be
            self.browser.setPlainText(f"The help page could not be read ({exc}): reinstall Duet.")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)

    @property
    def text(self) -> str:
        return self.browser.toPlainText()


def show_difference(parent: QWidget) -> DifferenceDialog:
    """The page, made once per window and brought to the front."""
    dialog = parent.findChild(DifferenceDialog)
    if dialog is None:
        dialog = DifferenceDialog(parent)
    dialog.show()
    dialog.raise_()
    return dialog
