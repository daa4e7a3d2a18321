"""A per-token surprise chart: how unlikely one model finds each token of another model's text
(-log p, teacher-forced). Tall bars are where the two models disagree."""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QRectF
from PySide6.QtGui import QColor, QHelpEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from desktop.core.chat.tokens import TokenRecord
from desktop.ui.views.tokens import probability_chart

MAX_SURPRISE = 12.0  # nats; anything above is drawn at full height


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
        painter.drawText(4, 12, self.title)
        if not self.tokens:
            return
        top, height = 16.0, self.height() - 18.0
        width = self.width() / len(self.tokens)
        for i, token in enumerate(self.tokens):
            surprise = min(MAX_SURPRISE, -(token.logprob or 0.0))
            bar = height * surprise / MAX_SURPRISE
            shade = min(255, int(60 + 195 * surprise / MAX_SURPRISE))
            painter.fillRect(
                QRectF(i * width + 0.5, top + height - bar, max(1.0, width - 1.0), bar),
                QColor(shade, 80, 60),
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
