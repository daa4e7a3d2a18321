"""One column of the compare window: its model picker (with a ladder stage's name), Raw | Chat
toggle, "+ examples" for a base model in chat mode, and remove button, the tokens it wrote, the chart of how surprised another model is by them and their token shift, and its stop reason and
statistics in fixed rows (the same rows at the same height in every column).

The column's data is a core `Column` (desktop.core.compare.run), the same one `duet compare`
fills: this widget shows it and feeds it the streamed tokens, and keeps no copy of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.chat.prompts import Mode
from desktop.core.chat.tokens import TokenRecord
from desktop.core.compare.run import Column
from desktop.core.engine import events as p
from desktop.core.engine.factory import Runnable, aligns_by_examples, capabilities_of, describe
from desktop.ui.compare.shift_panel import ShiftPanel
from desktop.ui.icons import icon
from desktop.ui.plain_tips import plain_tip
from desktop.ui.threads import TokenBatch
from desktop.ui.views.charts import SurpriseChart
from desktop.ui.views.model_picker import ModelPicker
from desktop.ui.views.tokens import TokenView
from desktop.ui.views.widgets import ModeToggle

SCORE_TIP = (
    "Rank this text with the other column's model: how surprised it is, token by token, and "
    "which tokens it would have written too (token shift)"
)
NO_SCORE_TIP = "A remote server cannot score a given text: pick a local model there"
NOT_RUN_TIP = "The next column has not run: run the columns, then its model scores this text"
REMOVE_TIP = "Remove this column and close its model, freeing its memory"
EXAMPLES_TIP = (
    "Aligned by examples: in chat mode this base model gets the conversation after a few example "
    "exchanges (the preamble you can edit from the main window), with no tuning at all"
)
NO_EXAMPLES_TIP = "Only a base model in chat mode is aligned by examples"

# The statistics' rows: (key, label, grid row, grid column). Every column has them all, in the
# same place, so a row reads across the columns.
STAT_ROWS: tuple[tuple[str, str, int, int], ...] = (
    ("stopped", "Stopped", 0, 0),
    ("tokens", "Tokens", 1, 0),
    ("speed", "Speed", 1, 1),
    ("prompt", "Prompt", 2, 0),
    ("seed", "Seed", 2, 1),
)
NO_VALUE = "–"


@dataclass(frozen=True)
class StatValues:
    """What the rows show, and the one-line summary read by a screen reader."""

    stopped: str
    tokens: str
    speed: str
    prompt: str
    seed: str
    summary: str

    @staticmethod
    def of(done: p.Done) -> StatValues:
        s = done.stats
        return StatValues(
            stopped=done.reason.describe(),
            tokens=str(s.generated_tokens),
            speed=f"{s.tokens_per_second:.1f} tok/s",
            prompt=f"{s.prompt_tokens} tokens",
            seed=str(s.seed),
            summary=(
                f"Stopped: {done.reason.describe()} · {s.generated_tokens} tokens · "
                f"{s.tokens_per_second:.1f} tok/s · prompt {s.prompt_tokens} tokens · "
                f"seed {s.seed}"
            ),
        )


class StatsBlock(QWidget):
    """A column's stop reason and statistics as fixed one-line rows, with a note above them for
    what does not fit a row (why a run failed, why scoring failed). The note grows upwards into
    the text's space, so the rows stay level with the other columns' whatever it says."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Stop reason and statistics")
        self.note = QLabel("")
        self.note.setTextFormat(Qt.TextFormat.PlainText)  # errors quote servers and files
        self.note.setWordWrap(True)
        self.note.setAccessibleName("Column message")
        self.note.hide()
        self.names: dict[str, QLabel] = {}
        self.values: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        for key, label, row, column in STAT_ROWS:
            name = QLabel(label)
            name.setObjectName("stat-name")
            name.setEnabled(False)  # the muted colour of a caption
            value = QLabel(NO_VALUE)
            value.setObjectName("stat-value")
            value.setTextFormat(Qt.TextFormat.PlainText)
            value.setAccessibleName(label)
            # One line each, and never wider than the column lets it be: a long value is cut,
            # and its tooltip holds it whole.
            value.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            span = 3 if key == "stopped" else 1
            grid.addWidget(name, row, 2 * column)
            grid.addWidget(value, row, 2 * column + 1, 1, span)
            self.names[key], self.values[key] = name, value
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.note)
        layout.addLayout(grid)
        self._summary = ""

    def text(self) -> str:
        """The run's summary line and any note, as one plain text."""
        note = self.note.text()
        return " ".join(t for t in (self._summary, note if note != self._summary else "") if t)

    def textFormat(self) -> Qt.TextFormat:
        """Everything it shows is plain text (messages quote files and servers)."""
        return Qt.TextFormat.PlainText

    def clear(self) -> None:
        self._show(StatValues(NO_VALUE, NO_VALUE, NO_VALUE, NO_VALUE, NO_VALUE, ""))
        self.show_note("")

    def show_done(self, done: p.Done) -> None:
        self._show(StatValues.of(done))
        self.show_note("")

    def show_failed(self, error: str) -> None:
        summary = f"Failed: {error}"
        self._show(StatValues("failed", NO_VALUE, NO_VALUE, NO_VALUE, NO_VALUE, summary))
        self.show_note(summary)

    def show_note(self, message: str) -> None:
        """A message over the rows (scoring's failure, a run's error); empty hides it."""
        self.note.setText(message)
        self.note.setVisible(bool(message))
        self.setAccessibleDescription(self.text())

    def _show(self, values: StatValues) -> None:
        self._summary = values.summary
        for key, label in self.values.items():
            text = getattr(values, key)
            label.setText(text)
            label.setToolTip(plain_tip(text) if text != NO_VALUE else "")
        self.setAccessibleDescription(self.text())


class CompareColumn(QFrame):
    def __init__(
        self, models: list[Runnable], model_id: str, mode: Mode, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.models = models
        self.picker = ModelPicker("Column model", self)
        # A long model name is cut rather than widening the column (and three columns the
        # window past a laptop's screen); the picker's tooltip names the model whole.
        self.picker.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.picker.setMinimumContentsLength(10)
        self.picker.currentIndexChanged.connect(self._name_model)
        self.picker.show_models(models, model_id)
        self._name_model()
        self.mode = ModeToggle(self)
        self.mode.set_mode(mode)
        self.mode.changed.connect(lambda _mode: self._offer_examples())
        self.examples = QCheckBox("+ examples", self)
        self.examples.setAccessibleName("Aligned by examples")
        self.picker.currentIndexChanged.connect(lambda _index: self._model_changed())
        # A ladder's stage ("SFT"), before the model's name; hidden for a plain column.
        self.stage = QLabel("")
        self.stage.setTextFormat(Qt.TextFormat.PlainText)
        self.stage.setObjectName("stage-name")
        self.stage.setAccessibleName("Training stage")
        self.stage.hide()
        self._stage_of = ""  # the model the stage name is of
        self._busy = False
        self.template = QLabel("")
        self.template.setTextFormat(Qt.TextFormat.PlainText)  # a template's name is the file's
        self.template.setEnabled(False)
        self.template.setWordWrap(True)
        self.close_button = QToolButton(self)
        self.close_button.setIcon(icon("x"))
        self.close_button.setAutoRaise(True)
        self.close_button.setAccessibleName("Remove this column")
        self.close_button.setToolTip(REMOVE_TIP)
        self.view = TokenView(self)
        self.stats = StatsBlock(self)
        self.score_button = QPushButton(icon("chart-column"), "Token shift vs the other model")
        self.score_button.setToolTip(SCORE_TIP)
        self.score_button.setAccessibleName("Token shift against the other model")
        self.score_button.setEnabled(False)
        self.chart = SurpriseChart(self)
        self.shift = ShiftPanel(self.view, self)
        # The model's name gets the column's whole width (it is what tells columns apart); the
        # mode and the template it renders with share the line below.
        top = QHBoxLayout()
        top.addWidget(self.stage)
        top.addWidget(self.picker, 1)
        top.addWidget(self.close_button)
        how = QHBoxLayout()
        how.addWidget(self.mode)
        how.addWidget(self.examples)
        how.addWidget(self.template, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(how)
        layout.addWidget(self.view, 1)
        # The chart and the statistics' note sit above the rows: showing them shortens the
        # text, never moves the rows away from the other columns'.
        layout.addWidget(self.chart)
        layout.addWidget(self.shift)
        layout.addWidget(self.stats)
        layout.addWidget(self.score_button)
        self.column: Column | None = None  # the last run's, once one started
        self._offer_examples()

    # The choice -----------------------------------------------------------------------------

    @property
    def model(self) -> Runnable:
        """The model the picker shows (the next run's; the last run's is `column.model`)."""
        chosen = self.picker.chosen
        assert chosen is not None  # a column always has a model: set_models keeps one
        return chosen

    def set_models(self, models: list[Runnable]) -> None:
        """Offer these models, keeping this column's choice while it is among them (the first
        model otherwise)."""
        self.models = models
        self.picker.show_models(models)
        self._name_model()

    def _name_model(self) -> None:
        chosen = self.picker.chosen
        self.picker.setToolTip(plain_tip(describe(chosen)) if chosen is not None else "")

    @property
    def aligned(self) -> bool:
        """The next run renders this column's chat aligned by examples."""
        return self._examples_apply() and self.mode.mode == "chat" and self.examples.isChecked()

    def set_aligned(self, aligned: bool) -> None:
        self.examples.setChecked(aligned)

    def set_stage(self, name: str) -> None:
        """A ladder stage's name before the model's ("" for none), shown while the column
        keeps that model."""
        self.stage.setText(name)
        self.stage.setVisible(bool(name))
        chosen = self.picker.chosen
        self._stage_of = chosen.id if chosen is not None and name else ""

    def _model_changed(self) -> None:
        chosen = self.picker.chosen
        if self._stage_of and (chosen is None or chosen.id != self._stage_of):
            self.set_stage("")  # another model is not that stage
        self._offer_examples()

    def _examples_apply(self) -> bool:
        chosen = self.picker.chosen
        return chosen is not None and aligns_by_examples(chosen)

    def _offer_examples(self) -> None:
        """The examples option is shown for a model it applies to, and works in chat mode
        while no run is under way."""
        applies = self._examples_apply()
        self.examples.setVisible(applies)
        self.examples.setEnabled(applies and self.mode.mode == "chat" and not self._busy)
        self.examples.setToolTip(EXAMPLES_TIP if self.examples.isEnabled() else NO_EXAMPLES_TIP)

    def set_busy(self, busy: bool) -> None:
        """While a run is under way the column's model and mode stay as they started."""
        self._busy = busy
        self.picker.setEnabled(not busy)
        self.mode.setEnabled(not busy)
        self._offer_examples()

    def set_removable(self, removable: bool, why_not: str = "") -> None:
        """The remove button works only when `removable`; otherwise its tooltip says why."""
        self.close_button.setEnabled(removable)
        self.close_button.setToolTip(REMOVE_TIP if removable else why_not)

    # A run ----------------------------------------------------------------------------------

    def start(self, column: Column) -> None:
        """A new run of this column: what it shows so far is cleared."""
        self.column = column
        self.view.clear_tokens()
        self.chart.set_tokens([], "")
        self.shift.clear()
        self.score_button.setEnabled(False)
        self.stats.clear()
        self.template.setText(column.prompt.template_name or "raw text, no template")

    def add_batch(self, batch: TokenBatch) -> None:
        """Streamed tokens: into the core column, and onto the screen."""
        assert self.column is not None  # batches come only after `start`
        records: list[TokenRecord] = []
        texts: list[str] = []
        for token in batch.tokens:
            record = self.column.add_token(token)
            if record is None:  # text released at the end (held for a stop string)
                if self.view.texts:
                    self.view.texts[-1] += token.text
                continue
            records.append(record)
            texts.append(token.text)
        self.view.append_tokens(records, texts)

    def finish(self, done: p.Done | None, error: str | None) -> None:
        """The run ended: with its stop reason and statistics, or with what went wrong."""
        assert self.column is not None
        self.column.finish(done, error)
        if done is not None:
            self.stats.show_done(done)
        else:
            self.stats.show_failed(str(error))

    def offer_scoring(self, scorer: Runnable | None) -> None:
        """Scoring by `scorer` (the model that ran the next column; None when that column has
        not run) is offered when this column wrote something and that model can score a text."""
        can_score = scorer is not None and capabilities_of(scorer).can_score
        self.score_button.setEnabled(
            can_score and self.column is not None and bool(self.column.text)
        )
        if scorer is None:
            self.score_button.setToolTip(NOT_RUN_TIP)
        else:
            self.score_button.setToolTip(SCORE_TIP if can_score else NO_SCORE_TIP)

    def piece(self, token: int) -> str:
        """Token `token`'s text as the divergence message quotes it."""
        texts = self.view.texts
        return repr(texts[token]) if token < len(texts) else "(its end)"
