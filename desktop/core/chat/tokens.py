"""A generated or scored token as the views and exports keep it: its id, its text, its
log-probability and the alternatives the model weighed (the hover chart's data)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from desktop.core.engine import events as p

TOP_K = 5  # alternatives kept per token: enough for the hover chart, cheap to compute


@dataclass(frozen=True)
class TokenRecord:
    token_id: int
    piece: str
    logprob: float | None
    top: tuple[p.Alternative, ...] = ()
    entropy: float | None = None  # of the model's whole distribution here, in nats

    @property
    def probability(self) -> float | None:
        return math.exp(self.logprob) if self.logprob is not None else None

    @classmethod
    def of(cls, token: p.Token | p.ScoredToken) -> TokenRecord:
        return cls(token.token_id, token.piece, token.logprob, token.top, token.entropy)
