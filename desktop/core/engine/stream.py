"""Following one generation's events to its end: the single loop every caller uses (the CLI,
the window's generation thread, compare), so the rule for how a stream ends lives in one place.

A stream is PromptProgress*, Token*, then Done, Failed or Crashed. `follow` hands tokens and
progress to callbacks and returns the Done; a Failed raises its error (with its data), a
Crashed raises EngineCrashed, and a stream that stops without any of them raises EngineError.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable

from desktop.core.engine import events as p
from desktop.core.errors import EngineCrashed, EngineError


def follow(
    events: Iterable[p.Event],
    on_token: Callable[[p.Token], None] | None = None,
    on_progress: Callable[[p.PromptProgress], None] | None = None,
) -> p.Done:
    try:
        for event in events:
            if isinstance(event, p.Token):
                if on_token is not None:
                    on_token(event)
            elif isinstance(event, p.PromptProgress):
                if on_progress is not None:
                    on_progress(event)
            elif isinstance(event, p.Done):
                return event
            elif isinstance(event, p.Failed):
                raise event.error
            elif isinstance(event, p.Crashed):
                raise EngineCrashed(event.message, exitcode=event.exitcode)
        raise EngineError("The engine ended the reply without saying why: try again.")
    finally:
        # End the stream now, not when the garbage collector gets to it: a local engine's
        # stream holds its worker until it ends, and a raised error's traceback keeps this
        # frame, and the stream with it, alive.
        if isinstance(events, Generator):
            events.close()
