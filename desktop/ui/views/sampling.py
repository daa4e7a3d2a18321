"""Sampling and engine settings. Every control's range comes from core's RANGES, so a value
out of range cannot be typed: it is refused in the widget, not at generation time."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from desktop.core.chat.conversation import Overflow
from desktop.core.chat.sampling import PRESETS, RANGES, SamplingParams
from desktop.core.engine.config import MAX_THREADS, default_threads
from desktop.core.settings import CONTEXT_RANGE, AppSettings

_FLOATS = ("temperature", "top_p", "min_p", "repeat_penalty")
_INTS = ("top_k", "max_tokens")
_SEED_MAX = 2**31 - 1  # QSpinBox is 32-bit signed; -1 shows as "random"
_OVERFLOW_CHOICES: tuple[tuple[Overflow, str], ...] = (
    ("stop", "Stop and say so"),
    ("drop_oldest", "Drop the oldest turns"),
)


class SamplingPanel(QWidget):
    changed = Signal(object)  # AppSettings

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        self.preset = QComboBox(self)
        self.preset.addItems([*PRESETS, "Custom"])
        self.preset.setAccessibleName("Sampling preset")
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
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._edited)
            form.addRow(bounds.label.capitalize(), spin)
            self.spins[name] = spin
        self.seed = QSpinBox(self)
        self.seed.setRange(-1, _SEED_MAX)
        self.seed.setSpecialValueText("random")
        self.seed.setAccessibleName("seed")
        self.seed.setKeyboardTracking(False)
        self.seed.valueChanged.connect(self._edited)
        form.addRow("Seed", self.seed)
        self.context = QSpinBox(self)
        self.context.setRange(*CONTEXT_RANGE)
        self.context.setSingleStep(256)
        self.context.setAccessibleName("context length")
        self.context.setKeyboardTracking(False)
        self.context.valueChanged.connect(self._edited)
        form.addRow("Context length", self.context)
        self.threads = QSpinBox(self)
        self.threads.setRange(0, MAX_THREADS)
        self.threads.setSpecialValueText(f"auto ({default_threads()})")
        self.threads.setAccessibleName("threads")
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
        self.context.setValue(settings.n_ctx)
        self.threads.setValue(settings.n_threads)
        self.overflow.setCurrentIndex(max(0, self.overflow.findData(settings.overflow)))
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
        ).validated()
        return replace(
            self._settings,
            sampling=sampling,
            n_ctx=self.context.value(),
            n_threads=self.threads.value(),
            overflow=self._overflow(),
        ).validated()

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
            preset = replace(PRESETS[name], max_tokens=self._settings.sampling.max_tokens)
            self.load(replace(self._settings, sampling=preset))
            self.changed.emit(self._settings)

    def _match_preset(self) -> None:
        current = self._settings.sampling
        for index, preset in enumerate(PRESETS.values()):
            if replace(preset, max_tokens=current.max_tokens) == current:
                self.preset.setCurrentIndex(index)
                return
        self.preset.setCurrentIndex(len(PRESETS))
