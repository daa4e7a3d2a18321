"""Charts of token probabilities: the per-token surprise chart (how unlikely one model finds
each token of another model's text, -log p, teacher-forced; tall bars are where the two models
disagree), the entropy chart of many samples (how sure each model is at each position) and the
heat view's legend (what its token colours mean)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFontMetrics,
    QHelpEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from desktop.core.chat.tokens import TokenRecord
from desktop.ui import theme
from desktop.ui.views.tokens import heat_colour, probability_chart

MAX_SURPRISE = 12.0  # nats; anything above is drawn at full height

# Colours -------------------------------------------------------------------------------------
# Every colour these charts paint comes from here (the theme's palette for text and background,
# the heat view's own scale for its legend), so a theme change is made in one place.


def surprise_colour(surprise: float) -> QColor:
    """A bar's colour: the theme's danger red, fainter the less surprised the scoring model
    is (the heat view's red, so one colour means "unlikely" everywhere)."""
    colour = QColor(theme.current().danger)
    colour.setAlphaF(0.35 + 0.65 * min(max(surprise, 0.0), MAX_SURPRISE) / MAX_SURPRISE)
    return colour


def over(colour: QColor, background: QColor) -> QColor:
    """`colour` (maybe translucent) as it shows painted on an opaque `background`."""
    a = colour.alphaF()
    return QColor.fromRgbF(
        colour.redF() * a + background.redF() * (1 - a),
        colour.greenF() * a + background.greenF() * (1 - a),
        colour.blueF() * a + background.blueF() * (1 - a),
    )


# The surprise chart --------------------------------------------------------------------------


class SurpriseChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tokens: list[TokenRecord] = []
        self.title = ""
        self.setMinimumHeight(70)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Surprise chart")
        self.hide()

    def set_tokens(self, tokens: list[TokenRecord], title: str) -> None:
        self.tokens, self.title = tokens, title
        self.setToolTip("")
        self.setVisible(bool(tokens))
        self.update()

    def bar_at(self, x: float) -> int | None:
        if not self.tokens:
            return None
        index = int(x / max(1.0, self.width()) * len(self.tokens))
        return index if 0 <= index < len(self.tokens) else None

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self.palette().color(self.foregroundRole()))
        # Cut to the column's width; the scoring model is the next column's, named in its picker.
        room = self.width() - 8
        painter.drawText(
            4, 12, self.fontMetrics().elidedText(self.title, Qt.TextElideMode.ElideRight, room)
        )
        if not self.tokens:
            return
        top, height = 16.0, self.height() - 18.0
        width = self.width() / len(self.tokens)
        for i, token in enumerate(self.tokens):
            surprise = min(MAX_SURPRISE, -(token.logprob or 0.0))
            bar = height * surprise / MAX_SURPRISE
            painter.fillRect(
                QRectF(i * width + 0.5, top + height - bar, max(1.0, width - 1.0), bar),
                surprise_colour(surprise),
            )
        painter.end()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            index = self.bar_at(event.pos().x())
            if index is not None:
                token = self.tokens[index]
                surprise = -(token.logprob or 0.0)
                text = (
                    f"token {index}: surprise {surprise:.2f} nats (p = {math.exp(-surprise):.3f})<br>"
                    + probability_chart(token)
                )
                QToolTip.showText(event.globalPos(), text, self)
            return True
        return super().event(event)


# The entropy chart ---------------------------------------------------------------------------

ENTROPY_TITLE = "Mean entropy at each position (nats): higher is less sure of the next token"
ENTROPY_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine)
FAINTEST = 0.25  # the opacity of a stretch that rests on a single sample among many


@dataclass(frozen=True)
class EntropyLine:
    """One model's curve: its label, colour, mean entropy at each position (None where no
    sample had a known value) and how many samples each mean rests on."""

    label: str
    colour: QColor
    mean: tuple[float | None, ...]
    samples: tuple[int, ...]


class EntropyChart(QWidget):
    """The mean entropy at each position of many samples, one labelled line per model. A stretch
    that few samples reach is drawn fainter: its mean rests on them alone. Hover a position for
    each model's figure there."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lines: list[EntropyLine] = []
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("Entropy chart")
        self.setToolTip("")

    def set_lines(self, lines: Sequence[EntropyLine]) -> None:
        self.lines = list(lines)
        self.setAccessibleDescription(
            "; ".join(f"{line.label}: {len(line.mean)} positions" for line in self.lines)
        )
        self.update()

    @property
    def labels(self) -> list[str]:
        return [line.label for line in self.lines]

    @property
    def length(self) -> int:
        return max((len(line.mean) for line in self.lines), default=0)

    @property
    def ceiling(self) -> float:
        """The top of the scale: the highest mean, up to the next half nat (1 at least)."""
        values = [v for line in self.lines for v in line.mean if v is not None and math.isfinite(v)]
        return max(1.0, math.ceil(max(values, default=0.0) * 2) / 2)

    def pen_style(self, index: int) -> Qt.PenStyle:
        """Lines of the same colour (two base models) differ by their dashes."""
        same = sum(1 for line in self.lines[:index] if line.colour == self.lines[index].colour)
        return ENTROPY_STYLES[same % len(ENTROPY_STYLES)]

    def plot(self) -> QRectF:
        """Where the curves go: under the title and the legend, right of the scale."""
        metrics = self.fontMetrics()
        left = metrics.horizontalAdvance(f"{self.ceiling:.1f}") + 8
        top = 2 * metrics.height() + 8
        return QRectF(
            left,
            top,
            max(1.0, self.width() - left - 8),
            max(1.0, self.height() - top - metrics.height() - 4),
        )

    def point(self, line: int, position: int) -> QPointF | None:
        value = self.lines[line].mean[position]
        if value is None or not math.isfinite(value):
            return None
        area = self.plot()
        x = area.left() + area.width() * (position + 0.5) / max(1, self.length)
        return QPointF(x, area.bottom() - area.height() * min(value, self.ceiling) / self.ceiling)

    def position_at(self, x: float) -> int | None:
        area = self.plot()
        if not self.length or not area.left() <= x <= area.right():
            return None
        return min(self.length - 1, int((x - area.left()) / area.width() * self.length))

    def describe(self, position: int) -> str:
        """Each model's mean entropy at this position and how many samples it rests on."""
        rows = [f"position {position + 1}"]
        for line in self.lines:
            if position < len(line.mean) and line.mean[position] is not None:
                rows.append(
                    f"{line.label}: {line.mean[position]:.2f} nats "
                    f"({line.samples[position]} sample{'' if line.samples[position] == 1 else 's'})"
                )
            else:
                rows.append(f"{line.label}: no sample reaches it")
        return "\n".join(rows)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        metrics = self.fontMetrics()
        room = self.width() - 8
        painter.setPen(text)
        painter.drawText(
            4,
            metrics.ascent() + 2,
            metrics.elidedText(ENTROPY_TITLE, Qt.TextElideMode.ElideRight, room),
        )
        self._legend(painter, metrics.height() + metrics.ascent() + 4)
        area = self.plot()
        axis = QColor(text)
        axis.setAlphaF(0.35)
        painter.setPen(axis)
        painter.drawLine(area.bottomLeft(), area.bottomRight())
        painter.drawLine(area.bottomLeft(), area.topLeft())
        painter.setPen(text)
        painter.drawText(2, int(area.top()) + metrics.ascent() // 2, f"{self.ceiling:.1f}")
        painter.drawText(2, int(area.bottom()), "0")
        if not self.length:
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "No samples yet")
            painter.end()
            return
        below = int(area.bottom()) + metrics.ascent() + 2
        painter.drawText(int(area.left()), below, "1")
        last = str(self.length)
        painter.drawText(int(area.right()) - metrics.horizontalAdvance(last), below, last)
        for index, line in enumerate(self.lines):
            most = max(line.samples, default=0)
            for position in range(len(line.mean) - 1):
                start, end = self.point(index, position), self.point(index, position + 1)
                if start is None or end is None:
                    continue
                colour = QColor(line.colour)
                share = line.samples[position + 1] / most if most else 0.0
                colour.setAlphaF(FAINTEST + (1 - FAINTEST) * share)
                painter.setPen(QPen(colour, 2, self.pen_style(index)))
                painter.drawLine(start, end)
            if len(line.mean) == 1 and (only := self.point(index, 0)) is not None:
                painter.setPen(QPen(line.colour, 4))
                painter.drawPoint(only)
        painter.end()

    def _legend(self, painter: QPainter, baseline: int) -> None:
        metrics = self.fontMetrics()
        x = 4
        for index, line in enumerate(self.lines):
            painter.setPen(QPen(line.colour, 2, self.pen_style(index)))
            middle = baseline - metrics.ascent() // 3
            painter.drawLine(x, middle, x + 22, middle)
            painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
            painter.drawText(x + 28, baseline, line.label)
            x += 28 + metrics.horizontalAdvance(line.label) + 16

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            position = self.position_at(event.pos().x())
            if position is not None:
                QToolTip.showText(event.globalPos(), self.describe(position), self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)


# The heat view's legend ----------------------------------------------------------------------

HEAT_CAPTION = "Token probability:"
HEAT_STEPS: tuple[tuple[float, str], ...] = (
    (0.0, "unlikely (p≈0)"),
    (0.25, "0.25"),
    (0.5, "0.5"),
    (0.75, "0.75"),
    (1.0, "certain (p=1)"),
)
HEAT_TIP = (
    "Heat view: each token's background shows how probable the model that wrote it found it. "
    "Deep red: a token it thought unlikely (p near 0), a surprising choice of the sampler; "
    "no colour: a near-certain one (p near 1). Hover a token for its alternatives. "
    "Scoring a column charts the other model's surprise instead (−log p)."
)
SWATCH = QSize(22, 14)
GAP = 6  # between a swatch and its label
STEP_GAP = 14  # between one step's label and the next swatch
MARGIN = 4


class HeatLegend(QWidget):
    """One line under the toolbar while the heat view is on: a swatch for each probability step
    in the heat view's own colours, painted on the text's background as the tokens are, and
    its label in the palette's text colour (so it reads in the light and the dark theme)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Heat view legend: token probability")
        self.setToolTip(HEAT_TIP)
        # It never widens the window: a narrow one cuts the legend, the tooltip says it all.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.hide()

    @property
    def steps(self) -> list[float]:
        return [p for p, _ in HEAT_STEPS]

    @property
    def labels(self) -> list[str]:
        return [HEAT_CAPTION, *(label for _, label in HEAT_STEPS)]

    def swatch(self, probability: float) -> QColor:
        """The colour a token of this probability shows in the heat view."""
        return over(heat_colour(probability), self.palette().color(QPalette.ColorRole.Base))

    def text_colour(self) -> QColor:
        return self.palette().color(QPalette.ColorRole.WindowText)

    def _layout(self) -> tuple[int, list[tuple[float, str, QRectF, int]]]:
        """The caption's width, then each step's probability, label, swatch and label x."""
        metrics = QFontMetrics(self.font())
        x = MARGIN + metrics.horizontalAdvance(HEAT_CAPTION) + STEP_GAP
        top = (self.height() - SWATCH.height()) / 2
        placed = []
        for probability, label in HEAT_STEPS:
            rect = QRectF(x, top, SWATCH.width(), SWATCH.height())
            label_x = x + SWATCH.width() + GAP
            placed.append((probability, label, rect, label_x))
            x = label_x + metrics.horizontalAdvance(label) + STEP_GAP
        return x, placed

    def swatch_centre(self, probability: float) -> tuple[int, int]:
        _, placed = self._layout()
        rect = next(r for p, _, r, _ in placed if p == probability)
        return int(rect.center().x()), int(rect.center().y())

    def sizeHint(self) -> QSize:
        width, _ = self._layout()
        height = max(SWATCH.height(), QFontMetrics(self.font()).height()) + 2 * MARGIN
        return QSize(width, height)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.sizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        text = self.text_colour()
        edge = QColor(text)
        edge.setAlphaF(0.35)  # outlines the colourless swatch without shouting
        middle = Qt.AlignmentFlag.AlignVCenter
        painter.setPen(text)
        height = self.height()
        painter.drawText(QRectF(MARGIN, 0, self.width(), height), middle, HEAT_CAPTION)
        _, placed = self._layout()
        for probability, label, rect, label_x in placed:
            painter.fillRect(rect, self.swatch(probability))
            painter.setPen(edge)
            painter.drawRect(rect.adjusted(0, 0, -1, -1))
            painter.setPen(text)
            painter.drawText(QRectF(label_x, 0, self.width(), height), middle, label)
        painter.end()
