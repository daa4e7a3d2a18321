"""Runs the Models window's blocking core calls off the UI thread and keeps each thread
referenced until it ends, so closing the window can wait for them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QObject, QThread

from desktop.ui.threads import CallThread

T = TypeVar("T")


class Calls(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._threads: set[QThread] = set()

    def run(
        self, call: Callable[[], T], done: Callable[[T], None], failed: Callable[[str], None]
    ) -> None:
        """`done` gets the result on the UI thread, or `failed` the error's message."""
        thread = CallThread(call, self)
        thread.done.connect(done)
        thread.failed.connect(failed)
        self._threads.add(thread)
        thread.finished.connect(lambda: self._threads.discard(thread))
        thread.start()

    def wait(self, msecs: int) -> None:
        """Give each running call up to `msecs` to end (the window is closing)."""
        for thread in list(self._threads):
            thread.wait(msecs)
