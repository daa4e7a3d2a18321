"""Duet's icons: the bundled Lucide SVGs, drawn in the current theme's text colour.

`icon("copy")` returns a QIcon whose engine reads the application palette each time it paints,
so an icon set once follows every later theme switch (and is muted when its control is disabled)
without anyone re-setting it. The SVGs stroke with `currentColor`; it is replaced by the colour
when an SVG is loaded, and one renderer is kept per (name, colour).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QPoint, QRect, QSize, Qt, qVersion
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QIconEngine, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from desktop.ui.app import resource

# Qt before 6.8 asks an icon engine for a scaled pixmap's size in device pixels; from 6.8 on,
# in logical pixels (measured: QIcon.pixmap(16x16, 2.0) asks for 32x32 on 6.7, 16x16 on 6.8).
_SIZE_IN_DEVICE_PIXELS = tuple(int(part) for part in qVersion().split(".")[:2]) < (6, 8)


class UnknownIcon(LookupError):
    """A name with no SVG in resources/icons: a programming error the icon tests catch."""


def icons_dir() -> Path:
    return resource("icons")


@cache
def available() -> frozenset[str]:
    """The names of the bundled icons (file names without .svg)."""
    return frozenset(path.stem for path in icons_dir().glob("*.svg"))


@cache
def _svg_text(name: str) -> str:
    return (icons_dir() / f"{name}.svg").read_text(encoding="utf-8")


@cache
def _renderer(name: str, colour: str) -> QSvgRenderer:
    """The SVG with `currentColor` replaced by `colour` (#rrggbb); one renderer per pair."""
    svg = _svg_text(name).replace("currentColor", colour)
    return QSvgRenderer(QByteArray(svg.encode("utf-8")))


def _palette_colour(mode: QIcon.Mode) -> QColor:
    palette = QGuiApplication.palette()
    if mode == QIcon.Mode.Disabled:
        return palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)
    # Selected rows are a light tint of the accent (duet.qss), not the solid highlight: their
    # icons stay in the text colour, as their text does.
    return palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.WindowText)


class _TintedSvgEngine(QIconEngine):
    """Paints one SVG in the palette's text colour (or a fixed colour) at any size."""

    def __init__(self, name: str, colour: QColor | None) -> None:
        super().__init__()
        self._name = name
        self._colour = colour

    def _colour_for(self, mode: QIcon.Mode) -> QColor:
        if self._colour is None:
            return _palette_colour(mode)
        colour = QColor(self._colour)
        if mode == QIcon.Mode.Disabled:
            colour.setAlphaF(colour.alphaF() * 0.45)
        return colour

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        colour = self._colour_for(mode)
        # SVG colours are #rrggbb: the alpha (a disabled palette's) goes to the painter.
        painter.save()
        painter.setOpacity(painter.opacity() * colour.alphaF())
        _renderer(self._name, colour.name(QColor.NameFormat.HexRgb)).render(painter, rect)
        painter.restore()

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        return self.scaledPixmap(size, mode, state, 1.0)

    def scaledPixmap(
        self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float
    ) -> QPixmap:
        # Rendered at the screen's pixel density, so icons stay sharp on a HiDPI display.
        pixels = (
            size
            if _SIZE_IN_DEVICE_PIXELS
            else QSize(max(1, round(size.width() * scale)), max(1, round(size.height() * scale)))
        )
        pixmap = QPixmap(pixels)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.paint(painter, QRect(QPoint(0, 0), pixels), mode, state)
        painter.end()
        pixmap.setDevicePixelRatio(scale)
        return pixmap

    def clone(self) -> QIconEngine:
        return _TintedSvgEngine(self._name, self._colour)

    def key(self) -> str:
        return "duet-lucide"

    def iconName(self) -> str:
        return self._name


def icon(name: str, colour: QColor | str | None = None) -> QIcon:
    """The bundled icon `name` in the theme's text colour, or in `colour` when given
    (white on the accent-coloured Send button). An unknown name raises UnknownIcon."""
    if name not in available():
        raise UnknownIcon(
            f"No icon named {name!r} in {icons_dir()}: add it to packaging/icons.py's NAMES "
            "and run `make icons`."
        )
    fixed = QColor(colour) if colour is not None else None
    return QIcon(_TintedSvgEngine(name, fixed))
