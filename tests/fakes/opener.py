"""FakeOpener: the engine opener a window is given (`MainWindow(open_engine=...)`) that makes a
FakeEngine for each model chosen, so the real window runs on canned replies in milliseconds.

The replies belong to the opener, not to one engine: a window makes a new engine for each model
choice and each reload with a new context (as the real factory starts a new worker), and a
test's script of replies goes on across them. `replies` are taken in order by whichever engine
answers, then every request gets `reply`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from desktop.core.chat.prompts import RenderedPrompt
from desktop.core.engine.base import LOCAL, Capabilities
from desktop.core.engine.config import DEFAULT_CONTEXT, EngineConfig
from desktop.core.engine.factory import Runnable
from desktop.core.models.library import InstalledModel
from tests.fakes.engine import FakeEngine

DEFAULT_REPLY = "Red, green and blue are three colours."


@dataclass
class FakeOpener:
    """Makes FakeEngines for a window and keeps them, newest last.

    `replies`: answered in order (by any engine it made), then `reply` every time.
    `token_delay`: seconds before each token, for engines made from now on (a stop then lands
    mid-reply). `capabilities`: what the engines say they can do.
    Each engine's context is the window's `n_ctx`, in words (the fake's tokens), and its label
    the model's file name.
    """

    replies: list[str] = field(default_factory=list)
    reply: str = DEFAULT_REPLY
    token_delay: float = 0.0
    capabilities: Capabilities = LOCAL
    engines: list[FakeEngine] = field(default_factory=list)
    opened: list[tuple[Runnable, EngineConfig]] = field(default_factory=list)

    def __call__(self, model: Runnable, config: EngineConfig) -> FakeEngine:
        engine = FakeEngine(
            self._answer,
            capabilities=self.capabilities,
            label=model.path.name if isinstance(model, InstalledModel) else model.name,
            n_ctx=config.n_ctx or DEFAULT_CONTEXT,
            n_batch=config.n_batch,
            token_delay=self.token_delay,
        )
        self.engines.append(engine)
        self.opened.append((model, config))
        return engine

    @property
    def engine(self) -> FakeEngine:
        """The engine made last: the one the window runs now."""
        if not self.engines:
            raise LookupError("No engine was opened yet: wait for the window to load a model.")
        return self.engines[-1]

    def _answer(self, prompt: RenderedPrompt) -> str:
        return self.replies.pop(0) if self.replies else self.reply
