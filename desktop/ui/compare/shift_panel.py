"""A compare column's token shift: a legend with each class's share, a switch that colours the
column's text by class, and the list of shifted tokens with what the other model would have
written instead (hover: its top 5)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from desktop.core.chat.tokens import TokenRecord
from desktop.core.compare.shift import (
    LABELS,
    ShiftedToken,
    ShiftLabel,
    TokenShift,
    describe_choices,
)
from desktop.ui import theme
from desktop.ui.views.tokens import TokenView, probability_chart

LIST_ROWS = 4  # shifted tokens visible at once; the list scrolls for more


def label_colour(label: ShiftLabel) -> QColor:
    """Unshifted text stays plain: the eye goes to the few tokens where the models part."""
    colours = theme.current()
    if label is ShiftLabel.SHIFTED:
        return colours.colour("danger", 0.45)
    if label is ShiftLabel.MARGINAL:
        return colours.colour("warning", 0.3)
    return QColor(0, 0, 0, 0)


def legend_html(shift: TokenShift) -> str:
    """Each class with its swatch and share, and whose tokens these are."""
    parts = []
    for label in LABELS:
        colour = label_colour(label)
        swatch = (
            f"<span style='background-color:{colour.name(QColor.NameFormat.HexArgb)}'>"
            "&nbsp;&nbsp;&nbsp;</span>"
            if colour.alpha()
            else "<span style='border:1px solid gray'>&nbsp;&nbsp;&nbsp;</span>"
        )
        parts.append(
            f"<span title='{html.escape(label.describe())}'>{swatch} {label.value} "
            f"{shift.share(label):.0%}</span>"
        )
    return (
        " &nbsp; ".join(parts)
        + f"<br><small>{len(shift.tokens)} tokens as {html.escape(shift.scorer)} cuts this "
        f"text, each ranked among its own choices</small>"
    )


class ShiftPanel(QWidget):
    """Hidden until the column's text has been ranked by another model."""

    def __init__(self, view: TokenView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.shift: TokenShift | None = None
        self.setAccessibleName("Token shift")
        self.legend = QLabel("")
        self.legend.setTextFormat(Qt.TextFormat.RichText)  # every model-made text is escaped
        self.legend.setWordWrap(True)
        self.legend.setAccessibleName("Token shift shares")
        self.colour = QCheckBox("Colour the text by token shift")
        self.colour.setToolTip(
            "Show the text in the other model's tokens: red where it would have written "
            "something else, amber where its second or third choice"
        )
        self.colour.toggled.connect(self._colour_text)
        self.shifted = QListWidget()
        self.shifted.setAccessibleName("Shifted tokens")
        self.shifted.setToolTip("")
        row = self.shifted.fontMetrics().height() + 6
        self.shifted.setMaximumHeight(LIST_ROWS * row + 4)
        self.shifted.itemClicked.connect(self._show_chart)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.legend)
        layout.addWidget(self.colour)
        layout.addWidget(self.shifted)
        self.hide()

    def show_shift(self, shift: TokenShift) -> None:
        self.shift = shift
        self.legend.setText(legend_html(shift))
        self.legend.setAccessibleDescription(shift.summary())
        self.shifted.clear()
        for index, token in shift.shifted:
            item = QListWidgetItem(f"#{index} {token.piece!r} → {describe_choices(token)}")
            item.setToolTip(probability_chart(_record(token)))
            item.setData(Qt.ItemDataRole.UserRole, index)
            self.shifted.addItem(item)
        if not shift.shifted:
            self.shifted.addItem("No token is outside the other model's top 3.")
        self.show()
        if self.colour.isChecked():
            self._colour_text(True)
        else:
            self.colour.setChecked(True)

    def clear(self) -> None:
        self.shift = None
        self.colour.setChecked(False)
        self.shifted.clear()
        self.hide()

    def _colour_text(self, on: bool) -> None:
        if on and self.shift is not None:
            records = [_record(t) for t in self.shift.tokens]
            self.view.overlay(records, [label_colour(t.label) for t in self.shift.tokens])
        elif self.view.overlaid:
            self.view.show_own()

    def _show_chart(self, item: QListWidgetItem) -> None:
        """A click shows the same chart as hovering, for keyboards and touch."""
        QToolTip.showText(QCursor.pos(), item.toolTip(), self.shifted)


def _record(token: ShiftedToken) -> TokenRecord:
    return TokenRecord(token.token_id, token.piece, token.logprob, token.top)
