"""Small widgets shared by the views: the Raw | Chat toggle, hint banners, the error bar."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QWidget,
)

from desktop.core.chat.prompts import Mode
from desktop.core.models.catalog import ModelKind

KIND_COLOURS: dict[ModelKind, str] = {"base": "#d08a1e", "instruct": "#2f7fd6"}


def kind_icon(kind: ModelKind, size: int = 12) -> QIcon:
    """A filled dot: amber for base models, blue for instruct models."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(KIND_COLOURS.get(kind, "#888888")))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(1, 1, size - 2, size - 2)
    painter.end()
    return QIcon(pixmap)


class ModeToggle(QWidget):
    """A segmented Raw | Chat switch, always visible in the toolbar."""

    changed = Signal(str)  # the Mode switched to

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.group = QButtonGroup(self)
        self.buttons: dict[Mode, QToolButton] = {}
        modes: tuple[tuple[Mode, str, str], ...] = (
            ("raw", "Raw", "Raw continuation: your text goes in as it is, no template (Ctrl+M)"),
            ("chat", "Chat", "Chat: messages rendered with the model's chat template (Ctrl+M)"),
        )
        for mode, label, tip in modes:
            button = QToolButton(self)
            button.setText(label)
            button.setCheckable(True)
            button.setToolTip(tip)
            button.setAccessibleName(f"{label} mode")
            button.setObjectName(f"mode-{mode}")
            button.setMinimumWidth(56)
            self.group.addButton(button)
            layout.addWidget(button)
            self.buttons[mode] = button
            button.toggled.connect(lambda on, m=mode: self._toggled(m, on))
        self.group.setExclusive(True)
        self.setStyleSheet(
            "QToolButton { padding: 4px 12px; border: 1px solid palette(mid); }"
            "QToolButton:checked { background: palette(highlight); color: palette(highlighted-text); }"
        )

    def _toggled(self, mode: Mode, on: bool) -> None:
        if on:  # the button turned off says nothing: the other one's turning on does
            self.changed.emit(mode)

    @property
    def mode(self) -> Mode:
        return "raw" if self.buttons["raw"].isChecked() else "chat"

    def set_mode(self, mode: Mode) -> None:
        self.buttons[mode].setChecked(True)

    def toggle(self) -> None:
        self.set_mode("chat" if self.mode == "raw" else "raw")


class Banner(QFrame):
    """A non-blocking hint above a view. Hidden while it has nothing to say."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.label)
        self.setStyleSheet(
            "#banner { background: rgba(47,127,214,0.12); border: 1px solid rgba(47,127,214,0.45);"
            " border-radius: 4px; }"
        )
        self.setAccessibleName("Hint")
        self.hide()

    def show_text(self, text: str) -> None:
        self.label.setText(text)
        self.setVisible(bool(text))

    @property
    def text(self) -> str:
        return self.label.text() if not self.isHidden() else ""


class ErrorBar(QFrame):
    """An inline error with Retry. The conversation above it stays as it was."""

    retry = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorbar")
        self.label = QLabel(self)
        # Messages quote servers and files: shown as text, never as links or images.
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.button = QPushButton("Retry", self)
        self.button.setAccessibleName("Retry")
        self.button.clicked.connect(self.retry)
        close = QToolButton(self)
        close.setText("✕")
        close.setAccessibleName("Dismiss error")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        layout.addWidget(close)
        self.setStyleSheet(
            "#errorbar { background: rgba(200,50,50,0.12); border: 1px solid rgba(200,50,50,0.5);"
            " border-radius: 4px; }"
        )
        self.hide()

    def show_error(self, message: str, can_retry: bool = True) -> None:
        self.label.setText(message)
        self.button.setVisible(can_retry)
        self.show()

    @property
    def message(self) -> str:
        return self.label.text() if not self.isHidden() else ""
