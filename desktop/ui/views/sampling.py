"""Sampling and engine settings. Every control's range comes from core's RANGES, so a value
out of range cannot be typed: it is refused in the widget, not at generation time, and the
context length, whose minimum is easy to type below, says what it did instead."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QWidget,
)

from desktop.core.chat.conversation import Overflow
from desktop.core.chat.sampling import (
    MAX_STOP_CHARS,
    MAX_STOPS,
    PRESETS,
    RANGES,
    SamplingParams,
    described,
    format_stops,
    parse_stops,
)
from desktop.core.engine.config import MAX_THREADS, default_threads
from desktop.core.errors import InvalidSettings
from desktop.core.settings import CONTEXT_RANGE, AppSettings

_FLOATS = ("temperature", "top_p", "min_p", "repeat_penalty")
_INTS = ("top_k", "max_tokens")
_SEED_MAX = 2**31 - 1  # QSpinBox is 32-bit signed; -1 shows as "random"
_OVERFLOW_CHOICES: tuple[tuple[Overflow, str], ...] = (
    ("stop", "Stop and say so"),
    ("drop_oldest", "Drop the oldest turns"),
)


class _RangedSpinBox(QSpinBox):
    """A QSpinBox that reports a typed value it had to correct. Qt's own correction is silent:
    it puts back the previous value, so a context typed as 100 became 4096 again unexplained.
    This one takes the nearest value in range and emits `corrected(typed, value)`."""

    corrected = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        self._typed: str | None = None
        # Emitted after Qt has corrected the text, so the value is the one the box now holds.
        self.editingFinished.connect(self._report)

    def fixup(self, text: str) -> str:
        # Called only for text the box cannot hold as it is (out of range, or empty).
        self._typed = text
        return text

    def _report(self) -> None:
        typed, self._typed = self._typed, None
        if typed is not None:
            self.corrected.emit(typed, self.value())


def correction_note(name: str, typed: str, value: int, low: int, high: int) -> str:
    """What the window says when a typed value was out of range: the limit and the value used."""
    shown = typed.strip()
    if shown.lstrip("-").isdigit():
        limit = f"at least {low}" if int(shown) < low else f"at most {high}"
        return f"The {name} is {limit}, so {shown} became {value}."
    return f"The {name} is a whole number from {low} to {high}: it is now {value}."


class SamplingPanel(QScrollArea):
    """The controls scroll: on a laptop screen the panel is shorter than its form."""

    changed = Signal(object)  # AppSettings
    edit_examples = Signal()  # open the examples file of Aligned by examples

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAccessibleName("Sampling settings")
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes to the controls, not the frame
        body = QWidget(self)
        form = QFormLayout(body)
        # Labels above their fields when the panel is narrow, rather than a wider panel.
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.setWidget(body)
        self.preset = QComboBox(self)
        self.preset.addItems([*PRESETS, "Custom"])
        self.preset.setAccessibleName("Sampling preset")
        self.preset.setToolTip(
            "A set of sampling values to start from: Deterministic (greedy, repeatable), Balanced "
            "(llama.cpp's defaults) or Creative. Changing any value makes it Custom."
        )
        self.preset.activated.connect(self._apply_preset)
        form.addRow("Preset", self.preset)
        self.spins: dict[str, QDoubleSpinBox | QSpinBox] = {}
        for name in (*_FLOATS, *_INTS):
            bounds = RANGES[name]
            spin: QDoubleSpinBox | QSpinBox
            if name in _FLOATS:
                spin = QDoubleSpinBox(self)
                spin.setDecimals(2)
                spin.setSingleStep(0.05)
                spin.setRange(bounds.low, bounds.high)
            else:
                spin = QSpinBox(self)
                spin.setRange(int(bounds.low), int(bounds.high))
            spin.setAccessibleName(bounds.label)
            spin.setToolTip(described(name))
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._edited)
            form.addRow(bounds.label.capitalize(), spin)
            self.spins[name] = spin
        self.seed = QSpinBox(self)
        self.seed.setRange(-1, _SEED_MAX)
        self.seed.setSpecialValueText("random")
        self.seed.setAccessibleName("seed")
        self.seed.setToolTip(
            "The random seed: the same seed, settings and prompt give the same reply. "
            f"From 0 to {_SEED_MAX}, or random (each reply records the seed it used)."
        )
        self.seed.setKeyboardTracking(False)
        self.seed.valueChanged.connect(self._edited)
        form.addRow("Seed", self.seed)
        self.stops = QLineEdit(self)
        self.stops.setObjectName("stop-strings")
        self.stops.setAccessibleName("stop strings")
        self.stops.setPlaceholderText(r"none, e.g. \nQ:, END")
        self.stops.setToolTip(
            "The reply ends where one of these texts appears (it is left out), after the chat "
            "template's own end-of-turn text. Separate them with commas; write \\n for a new "
            "line, \\t for a tab, \\s for a space at either end, \\, for a comma. "
            f"At most {MAX_STOPS}, each up to "
            f"{MAX_STOP_CHARS} characters."
        )
        self.stop_note = self._note("stop strings note")  # why a typed stop list was refused
        self.stops.editingFinished.connect(self._stops_edited)
        self.stops.textEdited.connect(lambda _text: self.stop_note.hide())
        form.addRow("Stop strings", self.stops)
        form.addRow(self.stop_note)
        self.context = _RangedSpinBox(self)
        self.context.setRange(*CONTEXT_RANGE)
        self.context.setSingleStep(256)
        self.context.setAccessibleName("context length")
        self.context.setToolTip(
            "How many tokens the model sees at once: the chat and the reply together. "
            f"From {CONTEXT_RANGE[0]} to {CONTEXT_RANGE[1]}; applies when the model is next loaded."
        )
        self.context.setKeyboardTracking(False)
        self.context.valueChanged.connect(self._edited)
        self.context_note = self._note("context length note")  # a typed context corrected
        self.context.corrected.connect(self._context_corrected)
        self.context.lineEdit().textEdited.connect(lambda _text: self.context_note.hide())
        form.addRow("Context length", self.context)
        form.addRow(self.context_note)
        self.threads = QSpinBox(self)
        self.threads.setRange(0, MAX_THREADS)
        self.threads.setSpecialValueText(f"auto ({default_threads()})")
        self.threads.setAccessibleName("threads")
        self.threads.setToolTip(
            "CPU threads for generation: auto leaves one core free so the window stays smooth. "
            f"From 1 to {MAX_THREADS}, or auto; applies when the model is next loaded."
        )
        self.threads.setKeyboardTracking(False)
        self.threads.valueChanged.connect(self._edited)
        form.addRow("Threads", self.threads)
        self.overflow = QComboBox(self)
        for policy, label in _OVERFLOW_CHOICES:
            self.overflow.addItem(label, policy)
        self.overflow.setAccessibleName("When the context is full")
        self.overflow.setToolTip(
            "When a chat no longer fits the model's context: stop with a message, or leave out the "
            "oldest turns (the system prompt always stays; the left-out turns are greyed)"
        )
        self.overflow.currentIndexChanged.connect(self._edited)
        form.addRow("When the context is full", self.overflow)
        self.aligned = QCheckBox("Aligned by examples", self)
        self.aligned.setAccessibleName("Aligned by examples")
        self.aligned.setToolTip(
            "For a base model in chat mode: the chat is written after a few example exchanges "
            "(# Query: / # Answer:) and the reply ends at the next one, so the model answers "
            "without any tuning (Lin et al. 2023, URIAL). Instruct models keep their template."
        )
        self.aligned.toggled.connect(self._edited)
        form.addRow("Base models in chat", self.aligned)
        self.edit_examples_button = QPushButton("Edit examples…", self)
        self.edit_examples_button.setAccessibleName("Edit examples")
        self.edit_examples_button.setToolTip(
            "Open the example exchanges in a text editor: add your own, each a '# Query:' line "
            "and the question, then a '# Answer:' line and the answer. Used from the next reply."
        )
        self.edit_examples_button.clicked.connect(self.edit_examples)
        form.addRow(self.edit_examples_button)
        note = QLabel("Context and threads apply when the model is next loaded.")
        note.setWordWrap(True)
        note.setEnabled(False)
        form.addRow(note)
        self._settings = settings
        self._loading = False
        self.load(settings)

    def load(self, settings: AppSettings) -> None:
        self._loading = True
        self._settings = settings
        for name, spin in self.spins.items():
            spin.setValue(getattr(settings.sampling, name))
        self.seed.setValue(
            -1 if settings.sampling.seed is None else min(settings.sampling.seed, _SEED_MAX)
        )
        self.stops.setText(format_stops(settings.sampling.stop))
        self.context.setValue(settings.n_ctx)
        self.threads.setValue(settings.n_threads)
        self.overflow.setCurrentIndex(max(0, self.overflow.findData(settings.overflow)))
        self.aligned.setChecked(settings.aligned)
        self._match_preset()
        self._loading = False

    def settings(self) -> AppSettings:
        values = {name: spin.value() for name, spin in self.spins.items()}
        seed = self.seed.value()
        sampling = SamplingParams(
            temperature=values["temperature"],
            top_p=values["top_p"],
            top_k=int(values["top_k"]),
            min_p=values["min_p"],
            repeat_penalty=values["repeat_penalty"],
            repeat_last_n=self._settings.sampling.repeat_last_n,
            max_tokens=int(values["max_tokens"]),
            seed=None if seed < 0 else seed,
            stop=self._settings.sampling.stop,
        ).validated()
        return replace(
            self._settings,
            sampling=sampling,
            n_ctx=self.context.value(),
            n_threads=self.threads.value(),
            overflow=self._overflow(),
            aligned=self.aligned.isChecked(),
        ).validated()

    def _context_corrected(self, typed: str, value: int) -> None:
        self.context_note.setText(correction_note("context length", typed, value, *CONTEXT_RANGE))
        self.context_note.show()

    def _note(self, name: str) -> QLabel:
        """A line under a field saying what became of what was typed; hidden from the next
        keystroke on."""
        note = QLabel(self)
        note.setWordWrap(True)
        note.setAccessibleName(name)
        note.hide()
        return note

    def ensure_visible(self, control: QWidget) -> None:
        """Scroll the panel to a control (keyboard focus does it too)."""
        self.ensureWidgetVisible(control)

    def _stops_edited(self) -> None:
        """A stop list that cannot be used is refused where it is typed: the note says why and
        the field shows the stops still in use."""
        try:
            stops = parse_stops(self.stops.text())
        except InvalidSettings as exc:
            self.stop_note.setText(f"Stop strings not changed: {exc}")
            self.stop_note.show()
            self.stops.setText(format_stops(self._settings.sampling.stop))
            return
        self._set_stops(stops)

    def add_stops(self, stops: tuple[str, ...]) -> None:
        """Add these stop strings to the ones in use (a scaffold's), each once."""
        merged = tuple(dict.fromkeys((*self._settings.sampling.stop, *stops)))
        if len(merged) <= MAX_STOPS:
            self._set_stops(merged)
        else:
            self.stop_note.setText(
                f"No room for {format_stops(stops)}: at most {MAX_STOPS} stop strings. "
                "Remove one and add it here."
            )
            self.stop_note.show()

    def _set_stops(self, stops: tuple[str, ...]) -> None:
        self.stops.setText(format_stops(stops))
        if stops != self._settings.sampling.stop:
            sampling = replace(self._settings.sampling, stop=stops)
            self._settings = replace(self._settings, sampling=sampling)
            self.changed.emit(self._settings)

    def _overflow(self) -> Overflow:
        # Read by position, not currentData() (Any): the items are _OVERFLOW_CHOICES in order.
        return _OVERFLOW_CHOICES[max(0, self.overflow.currentIndex())][0]

    def _edited(self) -> None:
        if self._loading:
            return
        self._settings = self.settings()
        self._match_preset()
        self.changed.emit(self._settings)

    def _apply_preset(self) -> None:
        name = self.preset.currentText()
        if name in PRESETS:
            current = self._settings.sampling
            preset = replace(PRESETS[name], max_tokens=current.max_tokens, stop=current.stop)
            self.load(replace(self._settings, sampling=preset))
            self.changed.emit(self._settings)

    def _match_preset(self) -> None:
        current = self._settings.sampling
        for index, preset in enumerate(PRESETS.values()):
            if replace(preset, max_tokens=current.max_tokens, stop=current.stop) == current:
                self.preset.setCurrentIndex(index)
                return
        self.preset.setCurrentIndex(len(PRESETS))
