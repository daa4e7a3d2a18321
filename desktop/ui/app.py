"""Start the window: a QApplication in the Fusion style, light or dark as the system is."""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from desktop import __version__


def dark_palette() -> QPalette:
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#202124",
        QPalette.ColorRole.WindowText: "#e8eaed",
        QPalette.ColorRole.Base: "#17181a",
        QPalette.ColorRole.AlternateBase: "#26272b",
        QPalette.ColorRole.Text: "#e8eaed",
        QPalette.ColorRole.Button: "#2b2c30",
        QPalette.ColorRole.ButtonText: "#e8eaed",
        QPalette.ColorRole.Highlight: "#2f7fd6",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#2b2c30",
        QPalette.ColorRole.ToolTipText: "#e8eaed",
        QPalette.ColorRole.PlaceholderText: "#8a8d93",
        QPalette.ColorRole.Mid: "#45474d",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6b6e73"))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor("#6b6e73"))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#6b6e73"))
    return palette


def apply_theme(app: QApplication) -> None:
    """Follow the system: dark palette when the platform says dark, Fusion's own otherwise."""
    scheme = QGuiApplication.styleHints().colorScheme()
    app.setPalette(
        dark_palette() if scheme == Qt.ColorScheme.Dark else app.style().standardPalette()
    )


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("Duet")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("duet")
    app.setStyle("Fusion")
    apply_theme(app)
    QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _: apply_theme(app))
    return app


def run() -> int:
    app = make_app()
    from desktop.ui.main_window import MainWindow  # after QApplication: widgets need it

    window = MainWindow()
    window.show()
    return app.exec()
