"""Duet's look: a light and a dark palette, a spacing and a type scale, and one style sheet.

`apply_theme(app, "system" | "light" | "dark")` is the one call that switches the look: it sets
the application's QPalette and its style sheet (resources/theme/duet.qss, filled from the
palette), then emits `theme_notifier().changed`. Icons (desktop.ui.icons) and painted colours
(`current().kind("base")`, the heat view, charts) read the palette when they paint, so nothing
else has to be told. With "system" the look follows the platform's colour scheme as it changes.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from string import Template
from typing import Literal

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from desktop.core.models.catalog import ModelKind
from desktop.core.settings import ThemeChoice
from desktop.ui.app import resource

Scheme = Literal["light", "dark"]


@dataclass(frozen=True)
class Palette:
    """A theme's colour tokens (#rrggbb). `base` and `instruct` are the two model kinds'
    colours, used wherever a kind is shown; `accent` marks the primary action and selection."""

    scheme: Scheme
    window: str  # the window's background
    surface: str  # inputs, lists, the notebook, compare columns
    raised: str  # buttons, model bubbles, headers
    text: str
    muted: str  # secondary text, placeholders
    border: str
    accent: str
    on_accent: str  # text and icons on the accent colour
    base: str  # amber: base models
    instruct: str  # blue: instruct models
    danger: str
    warning: str
    special: str  # special tokens in the prompt inspector

    def kind(self, kind: ModelKind) -> str:
        """The colour of a model kind (base amber, instruct blue; muted for anything else)."""
        return {"base": self.base, "instruct": self.instruct}.get(kind, self.muted)

    def colour(self, token: str, alpha: float = 1.0) -> QColor:
        """A token as a QColor, optionally translucent."""
        colour = QColor(getattr(self, token))
        colour.setAlphaF(alpha)
        return colour


LIGHT = Palette(
    scheme="light",
    window="#f4f5f7",
    surface="#ffffff",
    raised="#eceef2",
    text="#1b1e24",
    muted="#656b76",
    border="#d9dce2",
    accent="#5046e5",
    on_accent="#ffffff",
    base="#b26a00",
    instruct="#1f6fd1",
    danger="#c93434",
    warning="#b45309",
    special="#b0196e",
)

DARK = Palette(
    scheme="dark",
    window="#141518",
    surface="#1b1d21",
    raised="#25272d",
    text="#e6e7ea",
    muted="#9399a4",
    border="#31343b",
    accent="#7d74ff",
    on_accent="#ffffff",
    base="#f0a640",
    instruct="#5ea8ff",
    danger="#ff6b6b",
    warning="#f5a524",
    special="#f06eb0",
)

PALETTES: dict[Scheme, Palette] = {"light": LIGHT, "dark": DARK}

# What a model wrote in the raw notebook: one colour for both themes (4:1 on either page), so
# text already written stays readable across a theme switch, and stays findable by its colour.
GENERATED = "#6f6af8"

# Spacing (px) and type (multiples of the system font's size, so a user's larger font stays).
SPACING: dict[str, int] = {"xs": 2, "s": 4, "m": 8, "l": 12, "xl": 16, "xxl": 24}
TYPE_SCALE: dict[str, float] = {"caption": 0.88, "body": 1.0, "title": 1.12, "heading": 1.3}
RADIUS: dict[str, int] = {"s": 4, "m": 6, "l": 10}


class ThemeNotifier(QObject):
    """Says when the look changed: the palette's scheme ("light" or "dark")."""

    changed = Signal(str)


_state: dict[str, object] = {"choice": "system", "palette": LIGHT, "following": False}


@cache
def theme_notifier() -> ThemeNotifier:
    return ThemeNotifier()


def current() -> Palette:
    """The palette in use (light until a theme is applied)."""
    palette = _state["palette"]
    assert isinstance(palette, Palette)
    return palette


def current_choice() -> ThemeChoice:
    choice = _state["choice"]
    assert choice in ("system", "light", "dark")
    return choice


def resolve(choice: ThemeChoice) -> Scheme:
    """The scheme a choice means now: "system" asks the platform."""
    if choice != "system":
        return choice
    scheme = QGuiApplication.styleHints().colorScheme()
    return "dark" if scheme == Qt.ColorScheme.Dark else "light"


def qpalette(colours: Palette) -> QPalette:
    """The Fusion style's palette from the tokens: what the style sheet does not cover
    (menus, item views, text selection) reads its colours from here."""
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: colours.window,
        QPalette.ColorRole.WindowText: colours.text,
        QPalette.ColorRole.Base: colours.surface,
        QPalette.ColorRole.AlternateBase: colours.raised,
        QPalette.ColorRole.Text: colours.text,
        QPalette.ColorRole.Button: colours.raised,
        QPalette.ColorRole.ButtonText: colours.text,
        QPalette.ColorRole.BrightText: colours.on_accent,
        QPalette.ColorRole.Highlight: colours.accent,
        QPalette.ColorRole.HighlightedText: colours.on_accent,
        QPalette.ColorRole.ToolTipBase: colours.raised,
        QPalette.ColorRole.ToolTipText: colours.text,
        QPalette.ColorRole.PlaceholderText: colours.muted,
        QPalette.ColorRole.Link: colours.accent,
        QPalette.ColorRole.Mid: colours.border,
        QPalette.ColorRole.Midlight: colours.raised,
        QPalette.ColorRole.Dark: colours.border,
        QPalette.ColorRole.Light: colours.surface,
        QPalette.ColorRole.Shadow: colours.border,
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    disabled = QColor(colours.muted)
    disabled.setAlphaF(0.7)
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    palette.setColor(
        QPalette.ColorGroup.Inactive, QPalette.ColorRole.Highlight, QColor(colours.accent)
    )
    return palette


def _rgba(colour: str, alpha: float) -> str:
    c = QColor(colour)
    return f"rgba({c.red()}, {c.green()}, {c.blue()}, {alpha:.2f})"


@cache
def _image_dir() -> Path:
    """Where the style sheet's images go: QSS images cannot be tinted, so each scheme gets
    its own copies of the few icons it names, in its colours."""
    return Path(tempfile.mkdtemp(prefix="duet-theme-"))


def _tinted(name: str, colour: str) -> str:
    svg = (resource("icons") / f"{name}.svg").read_text(encoding="utf-8")
    path = _image_dir() / f"{name}-{colour.lstrip('#')}.svg"
    if not path.exists():
        path.write_text(svg.replace("currentColor", colour), encoding="utf-8")
    return path.as_posix()


def stylesheet(colours: Palette, font_pt: float) -> str:
    """resources/theme/duet.qss with the palette's tokens, the scales and the arrows filled in."""
    template = Template((resource("theme") / "duet.qss").read_text(encoding="utf-8"))
    values: dict[str, object] = dict(asdict(colours))
    for token in ("accent", "instruct", "base", "danger", "warning", "text"):
        for alpha in (8, 12, 16, 24, 45):
            values[f"{token}_{alpha}"] = _rgba(getattr(colours, token), alpha / 100)
    values.update({f"space_{k}": v for k, v in SPACING.items()})
    values.update({f"radius_{k}": v for k, v in RADIUS.items()})
    values.update({f"type_{k}": f"{font_pt * v:.1f}pt" for k, v in TYPE_SCALE.items()})
    values["arrow_down"] = _tinted("chevron-down", colours.muted)
    values["arrow_up"] = _tinted("chevron-up", colours.muted)
    values["dock_close"] = _tinted("x", colours.muted)
    values["dock_float"] = _tinted("picture-in-picture-2", colours.muted)
    return template.substitute(values)


def apply_theme(app: QApplication, choice: ThemeChoice = "system") -> Palette:
    """Give the application the look `choice` means, and say so. One call is enough: the
    palette, the style sheet, the icons and every painted colour follow."""
    colours = PALETTES[resolve(choice)]
    _state["choice"] = choice
    _state["palette"] = colours
    if not _state["following"]:
        # Once per process: a platform switch re-applies "system", and leaves a fixed choice.
        _state["following"] = True
        QGuiApplication.styleHints().colorSchemeChanged.connect(_scheme_changed)
    font_pt = app.font().pointSizeF()
    app.setPalette(qpalette(colours))
    app.setStyleSheet(stylesheet(colours, font_pt if font_pt > 0 else 10.0))
    theme_notifier().changed.emit(colours.scheme)
    return colours


def _scheme_changed(_scheme: Qt.ColorScheme) -> None:
    app = QApplication.instance()
    if isinstance(app, QApplication) and current_choice() == "system":
        apply_theme(app, "system")
