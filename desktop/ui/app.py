"""Start the window: a QApplication in the Fusion style, in the theme the settings name."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from desktop import __version__

_STARTED = time.perf_counter()  # the process has just started: Python's own start-up is before


def resource(name: str) -> Path:
    """A file from resources/: beside the source tree, or inside a frozen bundle."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))
    return base / "resources" / name


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
    from desktop.core.settings import load_settings
    from desktop.ui.theme import apply_theme  # it reads resources/ through this module

    apply_theme(app, load_settings()[0].theme)  # "system" follows the platform as it changes
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
