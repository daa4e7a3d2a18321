"""How the Models window writes a file size and whether a model fits in memory."""

from __future__ import annotations

from desktop.core.hub import api as hub


def human_size(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:,.0f} MB"


def fit_text(size: int, n_ctx: int = 4096, kv_per_token: int | None = None) -> str:
    estimate = hub.estimate_ram(size, n_ctx=n_ctx, kv_per_token=kv_per_token)
    guess = "" if estimate.exact_kv else ", KV estimated"
    return f"{estimate.fit} ({estimate.total / 1e9:.1f} GB{guess})"
