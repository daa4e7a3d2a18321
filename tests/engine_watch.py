"""Real engines that note, each time one is asked to generate or score, which one it is and which
of them have a model loaded at that moment: how tests check that "one at a time" keeps one
model in memory."""

from __future__ import annotations

from collections.abc import Callable

from desktop.core.engine.factory import open_engine

Log = list[tuple[int, list[bool]]]


class Watched:
    """A real engine (its every attribute), with generate and score noted in `log`."""

    def __init__(self, engine: object, log: Log, every: list[object]) -> None:
        self._engine, self._log, self._every = engine, log, every

    def __getattr__(self, name: str) -> object:
        return getattr(self._engine, name)

    def _note(self) -> None:
        alive = [bool(getattr(e, "alive", False)) for e in self._every]
        self._log.append((self._every.index(self._engine), alive))

    def generate(self, *args: object, **kwargs: object) -> object:
        self._note()
        return self._engine.generate(*args, **kwargs)  # type: ignore[attr-defined]

    def score(self, *args: object, **kwargs: object) -> object:
        self._note()
        return self._engine.score(*args, **kwargs)  # type: ignore[attr-defined]


def watching_opener() -> tuple[Callable[..., Watched], Log, list[object]]:
    """An engine opener whose engines are Watched; its log and the real engines it made."""
    log: Log = []
    engines: list[object] = []

    def opener(model: object, config: object = None) -> Watched:
        engine = open_engine(model, config)  # type: ignore[arg-type]
        engines.append(engine)
        return Watched(engine, log, engines)

    return opener, log, engines


def alone(log: Log) -> bool:
    """Every request of the log found no other engine's model loaded."""
    return all(not any(a for i, a in enumerate(alive) if i != me) for me, alive in log)
