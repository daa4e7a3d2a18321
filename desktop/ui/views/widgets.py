"""Small widgets shared by the views: the Raw | Chat toggle, hint banners, the error bar, the
model kind's dot. Their look is in resources/theme/duet.qss, by object name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QIconEngine, QPainter, QPixmap
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
from desktop.ui import theme
from desktop.ui.icons import icon


class _KindColours(Mapping[str, str]):
    """The kinds' colours (#rrggbb) in the theme in use: read when asked, never cached."""

    def __getitem__(self, kind: str) -> str:
        if kind not in ("base", "instruct"):
            raise KeyError(kind)
        return theme.current().kind(kind)  # type: ignore[arg-type]  # checked just above

    def __iter__(self) -> Iterator[str]:
        return iter(("base", "instruct"))

    def __len__(self) -> int:
        return 2


KIND_COLOURS: Mapping[str, str] = _KindColours()


class _KindDot(QIconEngine):
    """A filled dot in the kind's colour of the theme in use when it paints."""

    def __init__(self, kind: ModelKind) -> None:
        super().__init__()
        self.kind = kind

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        side = min(rect.width(), rect.height()) * 0.7
        dot = QRect(0, 0, round(side), round(side))
        dot.moveCenter(rect.center())
        colour = QColor(theme.current().kind(self.kind))
        if mode == QIcon.Mode.Disabled:
            colour.setAlphaF(0.45)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(colour)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(dot)
        painter.restore()

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pixmap = QPixmap(size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        self.paint(painter, QRect(QPoint(0, 0), size), mode, state)
        painter.end()
        return pixmap

    def clone(self) -> QIconEngine:
        return _KindDot(self.kind)


def kind_icon(kind: ModelKind, size: int = 12) -> QIcon:
    """A filled dot: the theme's base colour (amber) or instruct colour (blue). `size` is
    kept for callers; the dot is drawn at whatever size the icon is shown."""
    return QIcon(_KindDot(kind))


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
        # Styled as one segmented control by resources/theme/duet.qss (#mode-raw, #mode-chat).

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
        close.setIcon(icon("x"))
        close.setToolTip("Dismiss")
        close.setAccessibleName("Dismiss error")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button)
        layout.addWidget(close)
        self.hide()

    def show_error(self, message: str, can_retry: bool = True) -> None:
        self.label.setText(message)
        self.button.setVisible(can_retry)
        self.show()

    @property
    def message(self) -> str:
        return self.label.text() if not self.isHidden() else ""
