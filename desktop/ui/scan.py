"""Listing the models Duet can run, off the UI thread: the installed ones (the first run
assembles the starter model) and every configured server's (network)."""

from __future__ import annotations

from PySide6.QtCore import QThread, Signal

from desktop.core.engine.factory import served_models
from desktop.core.errors import DuetError
from desktop.core.models.library import Library
from desktop.ui.threads import unexpected


class ScanThread(QThread):
    """Lists installed models off the UI thread (the first run assembles the starter model)."""

    found = Signal(object, object)  # list[InstalledModel], list[Problem]
    failed = Signal(str)

    def run(self) -> None:
        try:
            library = Library()
            models = library.models()

            remote, unreachable = served_models()  # network: only in this thread
            self.found.emit(models + remote, [*library.problems, *unreachable])
        except DuetError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug must not leave the window "Looking for models…"
            self.failed.emit(unexpected(exc))
