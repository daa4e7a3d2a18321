"""Start the window: a QApplication in the Fusion style, light or dark as the system is."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from desktop import __version__

_STARTED = time.perf_counter()  # the process has just started: Python's own start-up is before


def resource(name: str) -> Path:
    """A file from resources/: beside the source tree, or inside a frozen bundle."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))
    return base / "resources" / name


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
    icon = resource("duet.png")
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    apply_theme(app)
    QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _: apply_theme(app))
    return app


def run() -> int:
    app = make_app()
    from desktop.ui.main_window import MainWindow  # after QApplication: widgets need it

    window = MainWindow()
    window.show()
    # SIGTERM (logout, `kill`) closes the window properly: conversations and downloads are saved.
    # Qt's event loop never returns to Python on its own, so a timer lets the handler run.
    signal.signal(signal.SIGTERM, lambda *_: window.close())
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(250)
    if os.environ.get("DUET_PRINT_STARTUP"):
        QTimer.singleShot(
            0,
            lambda: print(
                f"window shown after {(time.perf_counter() - _STARTED) * 1000:.0f} ms",
                file=sys.stderr,
                flush=True,
            ),
        )
    return app.exec()
