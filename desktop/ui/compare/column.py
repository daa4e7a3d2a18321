"""One column of the compare window: its model picker and Raw | Chat toggle, the tokens it
wrote, its stop reason and statistics, and the chart of how surprised another model is by them.

The column's data is a core `Column` (desktop.core.compare.run), the same one `duet compare`
fills: this widget shows it and feeds it the streamed tokens, and keeps no copy of its own.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.chat.prompts import Mode
from desktop.core.chat.tokens import TokenRecord
from desktop.core.compare.run import Column
from desktop.core.engine import events as p
from desktop.core.engine.factory import Runnable, capabilities_of
from desktop.ui.threads import TokenBatch
from desktop.ui.views.charts import SurpriseChart
from desktop.ui.views.model_picker import ModelPicker
from desktop.ui.views.tokens import TokenView
from desktop.ui.views.widgets import ModeToggle

SCORE_TIP = "How surprised the other column's model is by this text, token by token"
NO_SCORE_TIP = "A remote server cannot score a given text: pick a local model there"


class CompareColumn(QFrame):
    def __init__(
        self, models: list[Runnable], model_id: str, mode: Mode, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.models = models
        self.picker = ModelPicker("Column model", self)
        self.picker.show_models(models, model_id)
        self.mode = ModeToggle(self)
        self.mode.set_mode(mode)
        self.template = QLabel("")
        self.template.setTextFormat(Qt.TextFormat.PlainText)  # a template's name is the file's
        self.template.setEnabled(False)
        self.template.setWordWrap(True)
        self.view = TokenView(self)
        self.stats = QLabel("")
        self.stats.setTextFormat(Qt.TextFormat.PlainText)  # errors quote servers and files
        self.stats.setWordWrap(True)
        self.stats.setAccessibleName("Stop reason and statistics")
        self.score_button = QPushButton("Score with the other model")
        self.score_button.setToolTip(SCORE_TIP)
        self.score_button.setEnabled(False)
        self.chart = SurpriseChart(self)
        top = QHBoxLayout()
        top.addWidget(self.picker, 1)
        top.addWidget(self.mode)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.template)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.stats)
        layout.addWidget(self.chart)
        layout.addWidget(self.score_button)
        self.column: Column | None = None  # the last run's, once one started

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

    def set_busy(self, busy: bool) -> None:
        """While a run is under way the column's model and mode stay as they started."""
        self.picker.setEnabled(not busy)
        self.mode.setEnabled(not busy)

    # A run ----------------------------------------------------------------------------------

    def start(self, column: Column) -> None:
        """A new run of this column: what it shows so far is cleared."""
        self.column = column
        self.view.clear_tokens()
        self.chart.set_tokens([], "")
        self.score_button.setEnabled(False)
        self.stats.setText("")
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
            s = done.stats
            self.stats.setText(
                f"Stopped: {done.reason.describe()} · {s.generated_tokens} tokens · "
                f"{s.tokens_per_second:.1f} tok/s · prompt {s.prompt_tokens} tokens · seed {s.seed}"
            )
        else:
            self.stats.setText(f"Failed: {error}")

    def offer_scoring(self, scorer: Runnable) -> None:
        """Scoring by `scorer` (the model that ran the next column) is offered when this column
        wrote something and that model can score a given text."""
        can_score = capabilities_of(scorer).can_score
        self.score_button.setEnabled(
            can_score and self.column is not None and bool(self.column.text)
        )
        self.score_button.setToolTip(SCORE_TIP if can_score else NO_SCORE_TIP)

    def piece(self, token: int) -> str:
        """Token `token`'s text as the divergence message quotes it."""
        texts = self.view.texts
        return repr(texts[token]) if token < len(texts) else "(its end)"
