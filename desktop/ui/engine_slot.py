"""The window's engine: opened for the chosen model, loaded off the UI thread, the previous one
ended in the background; and the model file hashed once, for what each reply records."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from desktop.core.engine import events as p
from desktop.core.engine.base import Engine
from desktop.core.engine.config import EngineConfig
from desktop.core.engine.factory import Runnable, identity
from desktop.ui.threads import CloseThread, LoadThread, Threads

EngineOpener = Callable[[Runnable, EngineConfig], Engine]


def _ignore(_result: object) -> None:
    """For work whose result is kept elsewhere (and whose failure costs only that)."""


class EngineSlot(QObject):
    loaded = Signal(object)  # p.RuntimeInfo, of the engine in the slot now
    failed = Signal(str)

    def __init__(self, open_engine: EngineOpener, threads: Threads, config: EngineConfig) -> None:
        super().__init__(threads)
        self.opener = open_engine  # also for the compare window's columns
        self._threads = threads
        self.engine: Engine | None = None
        self.config = config
        self.runtime: p.RuntimeInfo | None = None  # what the loaded engine reported
        self._closed = False

    def load(self, model: Runnable, config: EngineConfig) -> None:
        """Put an engine for `model` in the slot and load it; `loaded` or `failed` follows.
        Once the slot is closed, nothing: a library scan that ends while the window closes
        would otherwise start a worker nobody ends."""
        if self._closed:
            return
        if self.engine is not None:
            self._threads.start(CloseThread(self.engine, self))  # its process ends meanwhile
        engine = self.engine = self.opener(model, config)
        self.config, self.runtime = config, None
        if identity(model).sha256 is None:
            # A file outside the catalog and the Hub cache is hashed once, off the UI thread,
            # and remembered: every reply records its model's sha256.
            self._threads.call(lambda: identity(model, hash_file=True), _ignore, _ignore)
        # Asked from the load thread: a plain attribute, readable even once the window is gone.
        thread = LoadThread(engine, lambda: engine is self.engine, self)
        thread.loaded.connect(lambda info: self._loaded(engine, info))
        thread.failed.connect(lambda message: self._failed(engine, message))
        self._threads.start(thread)

    def _loaded(self, engine: Engine, info: p.RuntimeInfo) -> None:
        if engine is self.engine:  # not an engine replaced while it loaded
            self.runtime = info
            self.loaded.emit(info)

    def _failed(self, engine: Engine, message: str) -> None:
        if engine is self.engine:
            self.failed.emit(message)

    def close(self) -> None:
        """End the engine; a load that reports after this is ignored (its window may be gone)."""
        self._closed = True
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.close()
