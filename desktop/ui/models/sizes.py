"""How the Models window writes a file size, whether a model fits in memory, and whether a
pair or ladder fits at once."""

from __future__ import annotations

from collections.abc import Sequence

from desktop.core.models.catalog import CatalogModel
from desktop.core.models.memory import estimate_ram, fit_of, needs_of, set_estimate


def human_size(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:,.0f} MB"


def fit_text(size: int, n_ctx: int = 4096, kv_per_token: int | None = None) -> str:
    estimate = estimate_ram(size, n_ctx=n_ctx, kv_per_token=kv_per_token)
    guess = "" if estimate.exact_kv else ", KV estimated"
    return f"{estimate.fit} ({estimate.total / 1e9:.1f} GB{guess})"


def set_fit_text(entries: Sequence[CatalogModel], n_ctx: int = 4096) -> tuple[str, str]:
    """A pair's or a ladder's memory at once: a few words for its row, and the sentence that
    explains them (the row's tooltip)."""
    estimate = set_estimate(needs_of(entries), n_ctx=n_ctx)
    every = "both" if len(entries) == 2 else f"all {len(entries)}"
    tight = ", tight" if fit_of(estimate.run_total, estimate.machine) == "tight" else ""
    if estimate.plan == "at once":
        short = f"{every} at once{tight} ({estimate.total / 1e9:.1f} GB)"
    elif estimate.plan == "smaller context":
        short = (
            f"{every} at once at {estimate.run_ctx} ctx{tight} ({estimate.run_total / 1e9:.1f} GB)"
        )
    elif estimate.plan == "one after the other":
        short = "one after the other"
    else:
        short = "won't fit"
    return short, estimate.sentence
