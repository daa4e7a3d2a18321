"""The Sampling panel explains itself: every control says what it does and its range."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractSpinBox, QComboBox

from desktop.core.chat.sampling import RANGES
from desktop.core.settings import AppSettings
from desktop.ui.views.sampling import SamplingPanel


def test_every_sampling_control_has_a_tooltip_with_its_range(qtbot) -> None:
    panel = SamplingPanel(AppSettings())
    qtbot.addWidget(panel)
    controls = panel.findChildren(QAbstractSpinBox) + panel.findChildren(QComboBox)
    assert len(controls) >= len(RANGES)
    for control in controls:
        tip = control.toolTip()
        assert len(tip) > 30, control.accessibleName()
        assert control.accessibleName(), tip
        if isinstance(control, QAbstractSpinBox):
            assert "From " in tip, control.accessibleName()
    for name, bounds in RANGES.items():
        if name in panel.spins:
            tip = panel.spins[name].toolTip()
            assert f"{bounds.high:g}" in tip and f"{bounds.low:g}" in tip
