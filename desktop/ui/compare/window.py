"""The compare window: one input through two to four models, each column in raw or chat mode
(a base model's chat optionally aligned by examples), with the same seed and sampler; the first
token where they part ways is marked, and each column can be scored by the next one's model to
chart where it is surprised. A line-up sets the columns in one click: a catalog pair, its base
aligned by examples beside its instruct model, or a ladder's training stages in order.

Before a run the window says whether the columns' models fit in memory at once (weights + KV
cache + runtime, each); a set that does not runs at a smaller context or one column at a time,
each model freed before the next loads (desktop.core.compare.fit), and the window says which.

The window runs the columns (desktop.ui.compare.column shows each one); what a comparison is,
its divergence, scoring and export are core's (desktop.core.compare). It fits a 1024x640 screen
with four columns: the columns share the width, and a toolbar too wide for the window folds
its last actions into its overflow menu."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QSplitter,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.chat.fork import fork_at
from desktop.core.chat.prompts import Mode
from desktop.core.chat.sampling import SamplingParams
from desktop.core.chat.tokens import TOP_K, TokenRecord
from desktop.core.compare.export import save, write_comparator_json
from desktop.core.compare.fit import ColumnsPlan, plan_columns
from desktop.core.compare.lineups import MAX_COLUMNS, MIN_COLUMNS, Lineup, Seat, lineups
from desktop.core.compare.run import (
    Column,
    Comparison,
    compare_config,
    first_divergence,
    forked,
    score_with,
)
from desktop.core.engine import events as p
from desktop.core.engine.base import Engine
from desktop.core.engine.config import EngineConfig
from desktop.core.engine.factory import (
    Runnable,
    capabilities_of,
    open_engine,
    render_input,
)
from desktop.core.errors import DuetError
from desktop.core.models.catalog import Catalog
from desktop.core.settings import AppSettings
from desktop.ui.compare.column import CompareColumn
from desktop.ui.compare.lineup_menu import fill_lineup_menu
from desktop.ui.compare.samples_view import SamplesView
from desktop.ui.engine_slot import EngineOpener
from desktop.ui.icons import icon
from desktop.ui.threads import GenerationThread, Threads
from desktop.ui.views.alternatives import AlternativesPanel
from desktop.ui.views.charts import HeatLegend

# A comparison is of two columns at least (MIN_COLUMNS): the divergence is between the first two,
# and each column is scored by the next one's model.
KEEP_TWO_TIP = "A comparison needs two columns: pick another model here instead"
RUNNING_TIP = "Stop the run first (Esc) to remove a column"
COMPARATOR_FORMAT = "LLM Comparator JSON (*.json)"  # Google PAIR's viewer of side-by-side outputs
EXPORT_FORMATS = ("Markdown (*.md)", "JSON (*.json)", COMPARATOR_FORMAT)


class CompareWindow(QWidget):
    def __init__(
        self,
        models: list[Runnable],
        settings: AppSettings,
        defaults: tuple[str, str],
        parent: QWidget | None = None,
        open_engine: EngineOpener = open_engine,
        catalog: Catalog | None = None,
    ) -> None:
        """`open_engine` makes each column's engine (tests give a fake one); `catalog` offers
        its pairs and ladders as line-ups."""
        super().__init__(parent, Qt.WindowType.Window)
        self._open_engine = open_engine
        self.catalog = catalog
        self.setWindowTitle("Duet · Compare")
        self.resize(1200, 760)
        self.models = models
        self.settings = settings
        self.engines: list[Engine] = []
        # Each column's model and engine config at the last run (ui leaves engine.local alone).
        self._engine_keys: list[tuple[str, EngineConfig]] = []
        self.running: dict[int, GenerationThread] = {}
        self._rendering = False  # the columns' prompts are being rendered before a run
        # One column at a time: the columns still to run, and whether the last one's model is
        # being freed before the next loads.
        self._waiting: list[int] = []
        self._freeing = False
        # The last run went one column at a time: scoring then keeps to one model in memory too.
        self._in_turn = False
        self.threads = Threads(self)
        self.comparison: Comparison | None = None

        self.input = QPlainTextEdit(self)
        self.input.setPlaceholderText("One input for every column (Ctrl+Enter runs them all)")
        self.input.setAccessibleName("Comparison input")
        self.input.setMaximumHeight(110)
        self.system = QLineEdit(self)
        self.system.setPlaceholderText("System prompt for chat-mode columns (optional)")
        self.system.setAccessibleName("System prompt")
        # A toolbar rather than a row of buttons: when the window is too narrow for it, its
        # last actions go into its overflow menu instead of widening the window.
        self.toolbar = QToolBar("Compare", self)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.run_action = self._action("play", "Run", "Run every column (Ctrl+Enter)")
        self.run_action.triggered.connect(self.run)
        self.samples_action = self._action(
            "chart-column",
            "Samples…",
            "Run every column N times with the same seeds: how varied each model is, how long "
            "it writes, how often it ends by itself and how sure it is at each position",
        )
        self.samples_action.triggered.connect(self.open_samples)
        # Offered whenever Run is: not during a run.
        self.run_action.changed.connect(
            lambda: self.samples_action.setEnabled(self.run_action.isEnabled())
        )
        self.samples_view: SamplesView | None = None
        self.lineup_action = self._action(
            "list",
            "Line-up",
            "Set the columns in one click: a base and instruct pair, the base aligned by "
            "examples beside its instruct model, or a ladder of training stages (Alt+L)",
        )
        self.lineup_menu = QMenu(self)
        self.lineup_menu.aboutToShow.connect(self.fill_lineups)
        self.lineup_action.setMenu(self.lineup_menu)
        self.stop_action = self._action("square", "Stop", "Stop every column (Esc)")
        self.stop_action.setEnabled(False)
        self.stop_action.triggered.connect(self.stop)
        self.add_action = self._action(
            "plus", "Add column", f"Add another model (up to {MAX_COLUMNS} columns)"
        )
        self.add_action.triggered.connect(lambda: self.add_column())
        self.one_at_a_time = self._action(
            "clock",
            "One at a time",
            "Run the columns one after the other, each model freed before the next loads: "
            "for models that do not fit in memory together, or all the cores for each",
        )
        self.one_at_a_time.setCheckable(True)
        self.one_at_a_time.toggled.connect(lambda _on: self._update_plan())
        self.heat = self._action(
            "eye", "Heat view", "Colour each token by its probability: red tokens were unlikely"
        )
        self.heat.setCheckable(True)
        self.heat.toggled.connect(self._set_heat)
        self.export_action = self._action(
            "file-down",
            "Export…",
            "Save the comparison as Markdown, JSON, or JSON for Google PAIR's LLM Comparator",
        )
        self.export_action.setEnabled(False)
        self.export_action.triggered.connect(self.export_dialog)
        self.lineup_button = self._button(self.lineup_action)
        self.lineup_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.run_button = self._button(self.run_action)
        self.stop_button = self._button(self.stop_action)
        self.add_button = self._button(self.add_action)
        self.export_button = self._button(self.export_action)
        self.divergence = QLabel("Run the columns to see where the models part ways.")
        self.divergence.setTextFormat(Qt.TextFormat.PlainText)
        self.divergence.setWordWrap(True)
        self.divergence.setAccessibleName("Divergence")
        # Whether the columns' models fit in memory at once, and how they run if not.
        self.memory = QLabel("")
        self.memory.setTextFormat(Qt.TextFormat.PlainText)
        self.memory.setWordWrap(True)
        self.memory.setEnabled(False)  # a caption's muted colour
        self.memory.setAccessibleName("Memory")
        self.heat_legend = HeatLegend(self)
        # A clicked token's choices: every column goes on from the one picked.
        self.alternatives = AlternativesPanel(self)
        self.alternatives.fork_requested.connect(self._fork_chosen)
        self._fork_from: CompareColumn | None = None
        self._fork_texts: list[str] = []  # the clicked column's own texts when it was clicked
        self._scoring = 0  # scoring runs under way: a run, fork or removal waits for them
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)  # a column dragged small stays usable
        layout = QVBoxLayout(self)
        layout.addWidget(self.input)
        layout.addWidget(self.system)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.memory)
        layout.addWidget(self.divergence)
        layout.addWidget(self.heat_legend)
        layout.addWidget(self.alternatives)
        layout.addWidget(self.splitter, 1)
        self.columns: list[CompareColumn] = []
        for model_id in defaults:
            self.add_column(model_id)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self).activated.connect(self.run)
        QShortcut(QKeySequence("Escape"), self).activated.connect(self.stop)
        # A toolbar button takes no focus: the keyboard opens the Line-up menu this way.
        QShortcut(QKeySequence("Alt+L"), self).activated.connect(self.show_lineups)

    def _action(self, icon_name: str, text: str, tip: str) -> QAction:
        action = QAction(icon(icon_name), text, self)
        action.setToolTip(tip)
        self.toolbar.addAction(action)
        return action

    def _button(self, action: QAction) -> QToolButton:
        """The toolbar's button for `action` (it follows the action's state)."""
        button = self.toolbar.widgetForAction(action)
        assert isinstance(button, QToolButton)
        button.setAccessibleName(action.text().rstrip("…"))
        return button

    # Columns ------------------------------------------------------------------------------------

    def add_column(self, model_id: str | None = None) -> None:
        if len(self.columns) >= MAX_COLUMNS:
            return
        chosen = model_id or (self.columns[-1].model.id if self.columns else self.models[0].id)
        column = CompareColumn(self.models, chosen, "chat", self)
        # By the column, not its place: a column removed before it moves it to the left.
        column.score_button.clicked.connect(lambda: self.score(self.columns.index(column)))
        column.close_button.clicked.connect(lambda: self.remove_column(self.columns.index(column)))
        column.view.hover.clicked.connect(lambda index: self.offer_fork(column, index))
        column.picker.currentIndexChanged.connect(lambda _index: self._update_plan())
        column.view.set_heat(self.heat.isChecked())
        self.columns.append(column)
        self.splitter.addWidget(column)
        self._update_plan()
        self._update_remove_buttons()

    def remove_column(self, index: int) -> None:
        """Remove column `index`, not during a run and not below two columns; the engine that
        ran it is closed, freeing its memory (its worker process, for a local model)."""
        if self.busy or len(self.columns) <= MIN_COLUMNS or not 0 <= index < len(self.columns):
            return
        column = self.columns.pop(index)
        self.alternatives.hide()
        self._fork_from = None
        if index < len(self.engines):  # engines line up with the columns they ran
            self.engines.pop(index).close()
            del self._engine_keys[index]
        if self.comparison is not None:  # what Export saves is what the window shows
            self.comparison = replace(
                self.comparison,
                columns=[c for c in self.comparison.columns if c is not column.column],
            )
        column.hide()
        column.setParent(None)
        column.deleteLater()
        if self.comparison is not None:
            self._show_results()
        self._update_plan()
        self._update_remove_buttons()

    def _update_remove_buttons(self) -> None:
        removable = not self.busy and len(self.columns) > MIN_COLUMNS
        why_not = RUNNING_TIP if self.busy else KEEP_TWO_TIP
        for view in self.columns:
            view.set_removable(removable, why_not)

    def set_models(self, models: list[Runnable]) -> None:
        """The models found since the window opened: every column's picker offers them, each
        keeping its choice (or the first model, if its choice is gone). An empty list changes
        nothing: a column always has a model, and one whose file vanished says so when run."""
        if not models:
            return
        self.models = models
        for view in self.columns:
            view.set_models(models)
        if not self.busy:
            self._update_plan()

    def set_settings(self, settings: AppSettings) -> None:
        """The main window's settings changed (the context among them): the plan follows."""
        self.settings = settings
        if not self.busy:
            self._update_plan()

    def plan(self) -> ColumnsPlan:
        """How the columns as picked now would run in this machine's memory."""
        return plan_columns(
            [view.model for view in self.columns],
            self.settings.n_ctx,
            one_at_a_time=self.one_at_a_time.isChecked(),
        )

    def _update_plan(self) -> None:
        """The memory line, and Add column up to MAX_COLUMNS (a set too big for memory at
        once still runs, one column at a time)."""
        self.add_action.setEnabled(not self.busy and len(self.columns) < MAX_COLUMNS)
        self.memory.setText(self.plan().sentence)

    # Line-ups -----------------------------------------------------------------------------------

    def lineups_now(self) -> tuple[Lineup, ...]:
        """The catalog's line-ups, ready as the installed models are now."""
        if self.catalog is None:
            return ()
        return lineups(self.catalog, {m.id for m in self.models})

    def fill_lineups(self) -> None:
        """The Line-up menu as the catalog and the installed models are now."""
        fill_lineup_menu(self.lineup_menu, self.lineups_now(), self.apply_lineup)

    def show_lineups(self) -> None:
        """The Line-up menu under its button (or the toolbar, when the button is folded into
        the overflow menu); not during a run."""
        if not self.lineup_action.isEnabled():
            return
        under = self.lineup_button if self.lineup_button.isVisible() else self.toolbar
        self.lineup_menu.popup(under.mapToGlobal(under.rect().bottomLeft()))

    def apply_lineup(self, lineup: Lineup) -> bool:
        """Set the columns to `lineup`'s; False, with the reason shown, when it cannot be."""
        if not lineup.ready:
            self.divergence.setText(lineup.why_not())
            return False
        if not self.set_up(lineup.seats):
            return False
        self.divergence.setText(f"Line-up: {lineup.title}. Write an input and run.")
        return True

    def set_up(self, seats: tuple[Seat, ...] | list[Seat]) -> bool:
        """One column per seat, each with its model, mode, aligned-by-examples and stage name.
        Not during a run; False, with the reason shown, when a seat's model is not installed."""
        if self.busy:
            return False
        ids = {m.id for m in self.models}
        unknown = [s.model_id for s in seats if s.model_id not in ids]
        if unknown or not MIN_COLUMNS <= len(seats) <= MAX_COLUMNS:
            self.divergence.setText(
                f"Not installed: {', '.join(unknown)}."
                if unknown
                else f"A comparison has {MIN_COLUMNS} to {MAX_COLUMNS} columns."
            )
            return False
        while len(self.columns) > len(seats):
            self.remove_column(len(self.columns) - 1)
        while len(self.columns) < len(seats):
            self.add_column(seats[len(self.columns)].model_id)
        for view, seat in zip(self.columns, seats, strict=True):
            view.picker.choose(seat.model_id)
            view.mode.set_mode(seat.mode)
            view.set_aligned(seat.aligned)
            view.set_stage(seat.stage)
        self._update_plan()
        return True

    # Running ------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Rendering the prompts or generating: a run is under way."""
        return (
            self._rendering
            or bool(self.running)
            or self._scoring > 0
            or bool(self._waiting)
            or self._freeing
        )

    def _engines(self, plan: ColumnsPlan | None = None) -> list[Engine]:
        """One engine per column, with the compare thread split (all of them for each, one
        column at a time); reused while the models and the plan stay."""
        plan = plan or self.plan()
        # Only models on this machine share its cores; a remote column runs on its server.
        local = sum(capabilities_of(c.model).uses_this_machine for c in self.columns)
        sharing = 1 if plan.one_at_a_time else max(1, local)
        config = compare_config(sharing, n_ctx=plan.n_ctx)
        wanted = [(c.model.id, config) for c in self.columns]
        if wanted != self._engine_keys:
            for engine in self.engines:
                engine.close()
            self.engines = [self._open_engine(c.model, config) for c in self.columns]
            self._engine_keys = wanted
        return self.engines

    def run(self) -> None:
        text = self.input.toPlainText()
        if self.busy or not text.strip():
            return
        sampling = self.settings.sampling
        if sampling.seed is None:  # one seed for every column, so only the models differ
            sampling = replace(sampling, seed=random.randrange(2**31))
        system = self.system.text() or None
        picked = [(view.model, view.mode.mode, view.aligned) for view in self.columns]
        # A chat template comes from a model file: it renders in a worker thread, never here.
        self._rendering = True
        self._set_busy(True)
        self.divergence.setText("Rendering the prompts…")
        self.threads.call(
            lambda: _render_columns(picked, text, system),
            lambda columns: self._start_columns(text, system, sampling, columns),
            self._render_failed,
        )

    def _render_failed(self, message: str) -> None:
        if not self._rendering:  # stopped meanwhile
            return
        self._rendering = False
        self._set_busy(False)
        self.divergence.setText(message)

    def _start_columns(
        self, text: str, system: str | None, sampling: SamplingParams, columns: list[Column]
    ) -> None:
        if not self._rendering:  # stopped or closed while the prompts rendered
            return
        self._rendering = False
        self._start(Comparison(text, system, sampling, columns))

    def _start(self, comparison: Comparison) -> None:
        self.comparison = comparison
        self.alternatives.hide()
        plan = self.plan()
        self._engines(plan)
        for view, column in zip(self.columns, comparison.columns, strict=True):
            view.start(column)
        self._waiting = list(range(len(self.columns)))
        self._in_turn = plan.one_at_a_time
        if plan.one_at_a_time:
            self.divergence.setText("Generating, one column at a time…")
            # Models still loaded from before (the last run's last column, a score) go first.
            self._free_all_but(self._waiting[0])
        else:
            self.divergence.setText("Generating…")
            while self._waiting:
                self._start_column(self._waiting.pop(0))
        self._set_busy(True)

    def _start_column(self, i: int) -> None:
        assert self.comparison is not None
        view, column = self.columns[i], self.comparison.columns[i]
        sampling = self.comparison.sampling
        thread = GenerationThread(self.engines[i], column.prompt, sampling, TOP_K, self)
        thread.batch.connect(view.add_batch)
        thread.done.connect(lambda done: self._finished(i, done, None))
        thread.failed.connect(lambda message: self._finished(i, None, message))
        thread.crashed.connect(lambda message: self._finished(i, None, message))
        self.running[i] = thread
        self.threads.start(thread)

    # Forking -----------------------------------------------------------------------------------

    def offer_fork(self, view: CompareColumn, index: int) -> None:
        """A token of a finished column was clicked: offer its alternatives. Not during a run,
        and not on another model's tokens (the token shift view): a fork is of this text."""
        if self.busy or view.column is None or view.column.done is None or view.view.overlaid:
            return
        self._fork_from = view
        # The column's texts as written (held text given back to the tokens that wrote it), kept
        # now: a token shift finishing later shows the scorer's tokens in this view.
        self._fork_texts = list(view.column.texts)
        self.alternatives.show_token(index, view.view.tokens[index], view.column.model.id)

    def _fork_chosen(self, index: int, choice: str) -> None:
        """Every column goes on from the clicked column's text up to that token, the choice in
        its place. Each engine still holds its own prompt (and the clicked column's, its text)
        in its KV cache, so only the new tokens are evaluated; one column at a time, each model
        loads again and evaluates the whole prompt."""
        view, comparison = self._fork_from, self.comparison
        if self.busy or view is None or view.column is None or comparison is None:
            return
        if any(v.column is None or v.model.id != v.column.model.id for v in self.columns):
            self.divergence.setText(
                "A column's model changed since the run: run the columns again, then fork."
            )
            return
        try:
            fork = fork_at(self._fork_texts, index, choice)
            again = forked(comparison, fork)
        except DuetError as exc:
            self.divergence.setText(str(exc))
            return
        self._set_busy(True)
        self._start(again)
        tail = fork.text[-80:]
        self.divergence.setText(
            f"Every column goes on from token {index} of {view.column.model.id}, {fork.choice!r} "
            f"in its place: “{'…' if len(fork.text) > 80 else ''}{tail}”"
        )

    def _finished(self, index: int, done: p.Done | None, error: str | None) -> None:
        self.running.pop(index, None)
        self.columns[index].finish(done, error)
        if self._waiting:  # one at a time: this model leaves memory before the next loads
            self._free_all_but(self._waiting[0])
        elif not self.running:
            self._all_done()

    def _free_all_but(self, keep: int) -> None:
        """Every column's model but column `keep`'s leaves memory, then the next column starts
        (off the UI thread: a worker process can take a moment to end)."""
        self._freeing = True
        others = [engine for i, engine in enumerate(self.engines) if i != keep]
        self.threads.call(
            lambda: _close(others),
            lambda _none: self._next_column(),
            lambda _message: self._next_column(),
        )

    def _next_column(self) -> None:
        self._freeing = False
        if self._waiting:
            self._start_column(self._waiting.pop(0))
        elif not self.running:  # stopped while the last model was being freed
            self._all_done()

    def _all_done(self) -> None:
        self._set_busy(False)
        self._show_results()
        self.export_action.setEnabled(True)

    def _show_results(self) -> None:
        """The first two columns' divergence, marked and named, and scoring offered to every
        column that ran (by the next column's model)."""
        views = self.columns
        fork = self.comparison.fork if self.comparison is not None else None
        after = f"After the fork ({fork.describe()}): " if fork is not None else ""
        for view in views:
            if view.view.marked is not None:  # a removed column's partner: marked no more
                view.view.mark(None)
        if views[0].column is None or views[1].column is None:
            self.divergence.setText("Run the columns to see where the models part ways.")
        elif (divergence := first_divergence(views[0].view.texts, views[1].view.texts)) is None:
            self.divergence.setText(after + "The first two columns wrote exactly the same text.")
        else:
            views[0].view.mark(divergence.token_a)
            views[1].view.mark(divergence.token_b)
            self.divergence.setText(
                after
                + f"The columns part ways at character {divergence.char}: token {divergence.token_a} "
                f"{views[0].piece(divergence.token_a)} against token {divergence.token_b} "
                f"{views[1].piece(divergence.token_b)} (marked in orange). Hover any token for its "
                "alternatives."
            )
        for i, view in enumerate(views):
            scorer = views[(i + 1) % len(views)]
            # The model that ran the next column scores with its engine, whatever its picker
            # shows since (the list of models can change during a run).
            view.offer_scoring(scorer.column.model if scorer.column else None)

    def stop(self) -> None:
        if self._rendering:  # nothing runs yet: the rendered prompts will be dropped
            self._rendering = False
            self._set_busy(False)
            self.divergence.setText("Stopped before the models started.")
        waiting, self._waiting = self._waiting, []
        for index in waiting:  # one at a time: the columns whose turn had not come
            self.columns[index].finish(None, "Stopped before this column's turn.")
        for thread in self.running.values():  # a column still loading its model stops too
            thread.stop()
        for engine in self.engines:
            engine.cancel()
        if waiting and not self.running and not self._freeing:
            self._all_done()

    def _set_busy(self, busy: bool) -> None:
        self.run_action.setEnabled(not busy)
        self.stop_action.setEnabled(busy)
        self.lineup_action.setEnabled(not busy)
        self.one_at_a_time.setEnabled(not busy)
        self.add_action.setEnabled(not busy and len(self.columns) < MAX_COLUMNS)
        for view in self.columns:
            view.set_busy(busy)
        if not busy:
            self._update_plan()
        self._update_remove_buttons()

    def _set_heat(self, on: bool) -> None:
        for view in self.columns:
            view.view.set_heat(on)
        self.heat_legend.setVisible(on)

    def open_samples(self) -> None:
        """The input, columns, modes and sampling as they are now, run N times in the samples
        view: modal over this window, since it runs on these columns' engines."""
        text = self.input.toPlainText()
        if self.busy:
            return
        if not text.strip():
            self.divergence.setText(
                "Write an input first: Samples runs it several times in every column."
            )
            return
        plan = self.plan()
        if plan.one_at_a_time:
            self.divergence.setText(
                "Samples runs every column at once, and these columns run one at a time: "
                "remove a column, or uncheck One at a time if they fit together."
            )
            return
        if self.samples_view is not None:  # the last one, closed: a new run gets a new view
            self.samples_view.close()
            self.samples_view.deleteLater()
        picked = [(view.model, view.mode.mode) for view in self.columns]
        aligned = [view.aligned for view in self.columns]
        system = self.system.text() or None
        sampling = self.settings.sampling
        engines = self._engines(plan)
        self.samples_view = SamplesView(
            text, system, picked, sampling, engines, self, aligned=aligned
        )
        self.samples_view.show()
        self.samples_view.run()

    # Scoring and export ---------------------------------------------------------------------------

    def score(self, index: int) -> None:
        """Score column `index`'s text with the next column's model."""
        other = (index + 1) % len(self.columns)
        view, scorer = self.columns[index], self.columns[other]
        column, scoring = view.column, scorer.column
        if column is None or scoring is None or self.busy:
            return
        engine = self.engines[other]
        # After a one-at-a-time run the scorer's model loads alone too.
        others = [e for e in self.engines if e is not engine] if self._in_turn else []
        # The model that ran that column scores, whatever its picker shows since.
        title = f"surprise of {scoring.model.id} at this text (-log p)"
        view.score_button.setEnabled(False)
        view.chart.set_tokens([], "")
        self.alternatives.hide()
        self._scoring += 1
        self._set_busy(True)

        def ended() -> bool:
            """Scoring is over: True when its column is still shown as it was scored."""
            self._scoring -= 1
            self._set_busy(self.busy)
            return view in self.columns and view.column is column

        def done(tokens: list[TokenRecord]) -> None:
            if not ended():
                return
            view.chart.set_tokens(tokens, title)
            if column.shift is not None:
                view.shift.show_shift(column.shift)
            view.score_button.setEnabled(True)

        def failed(message: str) -> None:
            if not ended():
                return
            view.stats.show_note(message)
            view.score_button.setEnabled(True)

        def work() -> list[TokenRecord]:
            _close(others)
            return score_with(engine, column, scoring)

        self.threads.call(work, done, failed)

    def export_dialog(self) -> None:
        if self.comparison is None:
            return
        path, chosen = QFileDialog.getSaveFileName(
            self,
            "Export comparison",
            str(Path.home() / "comparison.md"),
            ";;".join(EXPORT_FORMATS),
        )
        if path:
            self.export(Path(path), comparator=chosen == COMPARATOR_FORMAT)

    def export(self, path: Path, comparator: bool = False) -> None:
        """Save the comparison: Markdown or Duet's JSON by the file's suffix, or LLM
        Comparator's JSON. A failed save is said in the window; the file that was there stays."""
        assert self.comparison is not None
        try:
            if comparator:
                write_comparator_json([self.comparison], path)
            else:
                save(self.comparison, path)
        except DuetError as exc:
            self.divergence.setText(str(exc))
            return
        self.divergence.setText(f"Saved {path}.")

    def closeEvent(self, event: QCloseEvent) -> None:
        self.stop()
        self.threads.wait(10_000)
        for engine in self.engines:
            engine.close()
        # Opened again (Ctrl+K reuses this window), the next run opens new engines.
        self.engines, self._engine_keys, self._in_turn = [], [], False
        super().closeEvent(event)


def _close(engines: list[Engine]) -> None:
    for engine in engines:
        engine.close()


def _render_columns(
    picked: list[tuple[Runnable, Mode, bool]], text: str, system: str | None
) -> list[Column]:
    """Each column's exact prompt (a base model's chat aligned by examples where its column
    says so): a remote chat column shows the messages it sends."""
    return [
        Column(model, mode, render_input(model, mode, text, system, aligned=aligned))
        for model, mode, aligned in picked
    ]
