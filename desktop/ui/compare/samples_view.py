"""The many-samples view of the compare window: its input through every column N times with the
seeds s..s+N-1 (the same for each column), a table of each model's figures (distinct-1/2, mean
length, how often it ends by itself, its mean entropy), the entropy chart with one line per
model, and each column's samples, opened one by one.

It opens over the compare window (window-modal: the two share the columns' engines, so only one
runs at a time) and runs in threads (desktop.ui.threads): the window stays responsive, samples
appear as they finish, and Stop ends every column. What a run is, its figures and its export
are core's (desktop.core.compare.samples, .export)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QCloseEvent, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.chat.prompts import Mode
from desktop.core.chat.sampling import SamplingParams
from desktop.core.compare.export import save_samples
from desktop.core.compare.samples import (
    DEFAULT_SAMPLES,
    HEAD,
    MAX_SAMPLES,
    MIN_SAMPLES,
    Sample,
    SampleRun,
    SamplesJob,
    column_stats,
    entropy_split,
    greedy_note,
    plan_samples,
)
from desktop.core.compare.samples_stats import SampleStats
from desktop.core.engine.base import Engine
from desktop.core.engine.factory import Runnable, render_input
from desktop.core.errors import DuetError
from desktop.ui import theme
from desktop.ui.plain_tips import plain_tip
from desktop.ui.threads import Threads
from desktop.ui.views.charts import EntropyChart, EntropyLine

# The table's columns: what each figure is, as its header's tooltip says.
FIGURES: tuple[tuple[str, str], ...] = (
    ("Model", "The column's model and mode"),
    ("Samples", "Samples that finished (a stopped one is left out of the figures)"),
    ("Distinct-1", "Unique tokens over all tokens, across the samples: higher is more varied"),
    ("Distinct-2", "Unique pairs of tokens over all pairs, across the samples"),
    ("Mean length", "Mean number of tokens a sample has"),
    ("Ended by itself", "Samples that ended on their own (end of turn or a stop string)"),
    (f"Entropy 1–{HEAD}", f"Mean entropy (nats) over the first {HEAD} tokens"),
    (f"Entropy {HEAD + 1}+", f"Mean entropy (nats) after the first {HEAD} tokens"),
)
NO_FIGURE = "–"
CLOSE_WAIT_MS = 10_000


class _Relay(QObject):
    """Carries a finished sample from a column's thread to the UI thread."""

    sample = Signal(int, int, int, object)  # run number, column, sample number, Sample


class SamplesView(QWidget):
    def __init__(
        self,
        text: str,
        system: str | None,
        picked: Sequence[tuple[Runnable, Mode]],
        sampling: SamplingParams,
        engines: Sequence[Engine],
        parent: QWidget | None = None,
        count: int = DEFAULT_SAMPLES,
        aligned: Sequence[bool] = (),
    ) -> None:
        """`picked`: each column's model and mode; `engines`: one per column (the compare
        window's, shared: the view is modal over it); `aligned`: which columns' base models
        are aligned by examples (none if empty)."""
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Duet · Samples")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.resize(1000, 760)
        self.text, self.system = text, system
        self.picked = list(picked)
        self.aligned = list(aligned) or [False] * len(self.picked)
        self.sampling = sampling
        self.engines = list(engines)
        self.threads = Threads(self)
        self.job: SamplesJob | None = None
        self.result: SampleRun | None = None
        self.samples: list[list[Sample]] = [[] for _ in self.picked]
        self._run_number = 0
        self._relay = _Relay(self)
        self._relay.sample.connect(self._sample_arrived)

        self.summary = QLabel(self._summary_text(), self)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.count = QSpinBox(self)
        self.count.setRange(MIN_SAMPLES, MAX_SAMPLES)
        self.count.setValue(count)
        self.count.setAccessibleName("Samples per column")
        self.count.setToolTip(f"How many samples of each column ({MIN_SAMPLES} to {MAX_SAMPLES})")
        self.run_button = QPushButton("Run", self)
        self.run_button.setToolTip("Sample every column again with this many samples")
        self.run_button.clicked.connect(self.run)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip("Stop every column (Esc)")
        self.stop_button.clicked.connect(self.stop)
        self.export_button = QPushButton("Export…", self)
        self.export_button.setToolTip("Save every sample and figure as JSON")
        self.export_button.clicked.connect(self.export_dialog)
        self.export_button.setEnabled(False)
        controls = QHBoxLayout()
        count_label = QLabel("Samples per column:", self)
        count_label.setBuddy(self.count)
        for widget in (count_label, self.count, self.run_button, self.stop_button):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.export_button)

        self.warning = QLabel(self)
        self.warning.setWordWrap(True)
        self.warning.setTextFormat(Qt.TextFormat.PlainText)
        self.warning.setAccessibleName("Warning")
        self.warning.setStyleSheet(f"color: {theme.current().warning}")
        note = greedy_note(sampling)
        self.warning.setText(note or "")
        self.warning.setVisible(note is not None)
        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Samples done")
        self.status = QLabel(self)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Status")

        self.table = QTableWidget(len(self.picked), len(FIGURES), self)
        self.table.setAccessibleName("Figures of each model")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        for index, (name, tip) in enumerate(FIGURES):
            header = QTableWidgetItem(name)
            header.setToolTip(tip)
            self.table.setHorizontalHeaderItem(index, header)
        sections = self.table.horizontalHeader()
        sections.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        sections.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.chart = EntropyChart(self)

        self.lists: list[QListWidget] = []
        lists = QWidget(self)
        lists_layout = QHBoxLayout(lists)
        lists_layout.setContentsMargins(0, 0, 0, 0)
        for index, (model, mode) in enumerate(self.picked):
            box = QVBoxLayout()
            title = QLabel(f"{model.id} ({mode})", lists)
            title.setTextFormat(Qt.TextFormat.PlainText)  # a server names its models
            samples = QListWidget(lists)
            samples.setAccessibleName(f"Samples of {model.id} ({mode})")
            samples.currentRowChanged.connect(lambda row, i=index: self.open_sample(i, row))
            samples.itemClicked.connect(
                lambda item, i=index: self.open_sample(i, self.lists[i].row(item))
            )
            title.setBuddy(samples)
            box.addWidget(title)
            box.addWidget(samples)
            lists_layout.addLayout(box)
            self.lists.append(samples)
        detail = QWidget(self)
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        self.detail_label = QLabel("Click a sample to read it.", detail)
        self.detail_label.setTextFormat(Qt.TextFormat.PlainText)
        self.detail_label.setWordWrap(True)
        self.detail_label.setAccessibleName("Sample details")
        self.detail = QPlainTextEdit(detail)
        self.detail.setReadOnly(True)
        self.detail.setAccessibleName("Sample text")
        detail_layout.addWidget(self.detail_label)
        detail_layout.addWidget(self.detail, 1)
        below = QSplitter(Qt.Orientation.Horizontal, self)
        below.addWidget(lists)
        below.addWidget(detail)
        below.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(controls)
        layout.addWidget(self.warning)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.table)
        layout.addWidget(self.chart, 1)
        layout.addWidget(below, 2)
        QShortcut(QKeySequence("Escape"), self).activated.connect(self.stop)
        self._show_figures()
        self._set_busy(False)
        if parent is not None:  # a closing compare window stops the run before it frees engines
            parent.installEventFilter(self)

    def _summary_text(self) -> str:
        shown = " ".join(self.text.split())
        shown = shown[:80] + "…" if len(shown) > 80 else shown
        s = self.sampling
        return (
            f"Input: {shown!r} · {len(self.picked)} columns · temperature {s.temperature:g}, "
            f"top-k {s.top_k}, top-p {s.top_p:g}, max tokens {s.max_tokens} · each column gets "
            "the same seeds, so only the models differ."
        )

    # Running --------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.job is not None

    def run(self) -> None:
        """Sample every column `count` times; the prompts are rendered off the UI thread."""
        if self.busy:
            return
        count = self.count.value()
        self._run_number += 1
        number = self._run_number
        relay = self._relay
        job = SamplesJob(
            self.engines,
            lambda column, index, sample: relay.sample.emit(number, column, index, sample),
        )
        self.job, self.result = job, None
        self.samples = [[] for _ in self.picked]
        for samples in self.lists:
            samples.clear()
        self.detail.clear()
        self.detail_label.setText("Click a sample to read it.")
        self.progress.setRange(0, count * len(self.picked))
        self.progress.setValue(0)
        self.status.setText("Rendering the prompts…")
        self._show_figures()
        self._set_busy(True)
        picked, text, system, sampling = self.picked, self.text, self.system, self.sampling
        aligned = self.aligned

        def work() -> SampleRun:
            columns = [
                (m, mode, render_input(m, mode, text, system, aligned=examples))
                for (m, mode), examples in zip(picked, aligned, strict=True)
            ]
            plan = plan_samples(text, system, columns, sampling, count)
            return job.run(plan)

        self.threads.call(
            work,
            lambda result: self._finished(job, result),
            lambda message: self._end_failed(job, message),
        )
        self.status.setText(f"Sampling {count} per column…")

    def stop(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Stopping…")

    def _sample_arrived(self, number: int, column: int, index: int, sample: Sample) -> None:
        if number != self._run_number:  # from a run that has ended
            return
        self.samples[column].append(sample)
        self.lists[column].addItem(self._item(index, sample))
        self.progress.setValue(sum(len(s) for s in self.samples))
        self._show_figures()

    def _finished(self, job: SamplesJob, result: SampleRun) -> None:
        if job is not self.job:
            return
        self.job, self.result = None, result
        self.samples = [list(c.samples) for c in result.columns]
        for samples, column in zip(self.lists, result.columns, strict=True):
            if samples.count() != len(column.samples):  # a sample whose signal was lost
                samples.clear()
                for index, sample in enumerate(column.samples):
                    samples.addItem(self._item(index, sample))
        self._show_figures()
        errors = [f"{c.label}: {c.error}" for c in result.columns if c.error]
        if result.cancelled:
            message = "Stopped: the figures are of the samples that finished."
        else:
            seeds = result.seeds
            message = (
                f"Done in {result.seconds:.1f} s: {len(seeds)} samples per column, seeds "
                f"{seeds[0]} to {seeds[-1]}."
            )
        self.status.setText(" ".join([message, *errors]))
        self.export_button.setEnabled(True)
        self._set_busy(False)

    def _end_failed(self, job: SamplesJob, message: str) -> None:
        """A run that failed before it sampled (a template that would not render, settings
        out of range): its message in the status line."""
        if job is not self.job:
            return
        self.job = None
        self.status.setText(message)
        self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.count.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        self.export_button.setEnabled(not busy and self.result is not None)

    # Showing --------------------------------------------------------------------------------------

    def _item(self, index: int, sample: Sample) -> QListWidgetItem:
        preview = " ".join(sample.text.split())
        preview = preview[:50] + "…" if len(preview) > 50 else preview
        item = QListWidgetItem(
            f"#{index + 1} · seed {sample.seed} · {len(sample.tokens)} tokens · {sample.describe()}"
            f"\n{preview or '(empty)'}"
        )
        item.setToolTip(plain_tip(sample.text[:2000]))
        return item

    def stats(self) -> list[SampleStats]:
        return [column_stats(samples) for samples in self.samples]

    def _show_figures(self) -> None:
        colours = theme.current()
        lines = []
        for row, ((model, mode), stats) in enumerate(zip(self.picked, self.stats(), strict=True)):
            for col, value in enumerate(figures(f"{model.id} ({mode})", stats)):
                item = QTableWidgetItem(value)
                if col:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(row, col, item)
            lines.append(
                EntropyLine(
                    f"{model.id} ({mode})",
                    QColor(colours.kind(model.kind)),
                    stats.entropy.mean,
                    stats.entropy.samples,
                )
            )
        self.table.resizeRowsToContents()
        # As tall as its rows: the room below goes to the chart and the samples.
        rows = sum(self.table.rowHeight(row) for row in range(self.table.rowCount()))
        frame = 2 * self.table.frameWidth()
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height() + rows + frame)
        self.chart.set_lines(lines)

    def open_sample(self, column: int, row: int) -> None:
        """Show one sample in full, with its seed and how it ended."""
        if not 0 <= row < len(self.samples[column]):
            return
        sample = self.samples[column][row]
        model, mode = self.picked[column]
        self.detail.setPlainText(sample.text)
        self.detail_label.setText(
            f"{model.id} ({mode}) · sample {row + 1} · seed {sample.seed} · "
            f"{len(sample.tokens)} tokens · stopped: {sample.describe()}"
        )

    # Export and closing -----------------------------------------------------------------------------

    def export_dialog(self) -> None:
        if self.result is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export samples", str(Path.home() / "samples.json"), "JSON (*.json)"
        )
        if path:
            self.export(Path(path))

    def export(self, path: Path) -> None:
        if self.result is None:
            return
        try:
            save_samples(self.result, path)
        except DuetError as exc:
            self.status.setText(str(exc))
            return
        self.status.setText(f"Saved {path}.")

    def _halt(self) -> None:
        """Stop the run and wait for its threads: the engines are about to be freed."""
        self.stop()
        self.threads.wait(CLOSE_WAIT_MS)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._halt()
        super().closeEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parent() and event.type() == QEvent.Type.Close:
            self._halt()
        return False


def figures(label: str, stats: SampleStats) -> list[str]:
    """A row of the table: the label, then each figure as shown ("–" where undefined)."""
    head, rest = entropy_split(stats.entropy)
    ended = (
        f"{round(stats.ended_by_itself * stats.samples)}/{stats.samples} "
        f"({stats.ended_by_itself:.0%})"
        if stats.ended_by_itself is not None
        else NO_FIGURE
    )
    return [
        label,
        str(stats.samples),
        _number(stats.distinct_1, ".3f"),
        _number(stats.distinct_2, ".3f"),
        _number(stats.mean_tokens, ".1f"),
        ended,
        _number(head, ".2f"),
        _number(rest, ".2f"),
    ]


def _number(value: float | None, spec: str) -> str:
    return NO_FIGURE if value is None else format(value, spec)
