"""Memory for one model or a set run at once: weights + KV cache for the context + runtime, each,
against this machine's RAM; and, for a set that does not fit, the plan that does.

Qt-free and Hub-free: the catalog tab, the compare view and `duet pull` ask the same questions
("does this pair fit?", "does this ladder fit at once, or stage by stage?") before any model is
loaded, so the answers come from one place.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from desktop.core.models.catalog import CatalogModel

if TYPE_CHECKING:
    from desktop.core.models.library import InstalledModel

Fit = Literal["fits", "tight", "won't fit"]
Plan = Literal["at once", "smaller context", "one after the other", "too big"]

# Runtime beyond the weights and the KV cache: compute buffers, the engine process itself. Every
# model runs in its own worker process, so a set pays it once per model.
OVERHEAD_BYTES = 400 * 1024 * 1024
# The contexts a set falls back to, largest first, when it does not fit at the one asked for.
STANDARD_CONTEXTS = (4096, 2048, 1024, 512)
# Up to this share of the RAM a model "fits"; up to the next it is "tight" (the rest of the
# system still needs room); beyond, it "won't fit".
_FITS_SHARE = 0.6
_TIGHT_SHARE = 0.85
_DEFAULT_MACHINE = 8 * 1024**3  # when the OS will not say (Windows without sysconf)


@dataclass(frozen=True)
class RamEstimate:
    weights: int
    kv_cache: int
    overhead: int
    machine: int
    fit: Fit
    exact_kv: bool  # False when the KV cache was estimated without the file's header

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.overhead


@dataclass(frozen=True)
class ModelNeed:
    """What the estimate needs to know about one model of a set."""

    name: str
    file_size: int
    kv_per_token: int | None = None  # from the GGUF header when known; else estimated


@dataclass(frozen=True)
class SetEstimate:
    """A set of models at a context: each one's figures, and how the set can run.

    `models` are the per-model estimates at the context asked for, so `total` is exactly their
    sum; `run_ctx` and `run_total` are those of the plan (a smaller context when that is what
    makes the set fit at once)."""

    names: tuple[str, ...]
    n_ctx: int
    models: tuple[RamEstimate, ...]
    machine: int
    plan: Plan
    run_ctx: int
    run_total: int
    sentence: str

    @property
    def total(self) -> int:
        return sum(m.total for m in self.models)

    @property
    def fit(self) -> Fit:
        """The whole set at once, at the context asked for."""
        return fit_of(self.total, self.machine)

    @property
    def at_once(self) -> bool:
        return self.plan in ("at once", "smaller context")

    @property
    def exact_kv(self) -> bool:
        return all(m.exact_kv for m in self.models)


def machine_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # Windows
        return _DEFAULT_MACHINE


def fit_of(total: int, machine: int) -> Fit:
    if total <= _FITS_SHARE * machine:
        return "fits"
    return "tight" if total <= _TIGHT_SHARE * machine else "won't fit"


def estimate_ram(
    file_size: int, n_ctx: int = 4096, kv_per_token: int | None = None, machine: int | None = None
) -> RamEstimate:
    """Weights + KV cache for `n_ctx` tokens + runtime overhead, against this machine's memory.

    Without the file's header the KV cache is guessed at an eighth of the weights for 4k
    context (grouped-query models need less, old full-attention ones more); with it, exact."""
    exact = kv_per_token is not None
    kv = kv_per_token * n_ctx if kv_per_token is not None else file_size // 8 * n_ctx // 4096
    machine = machine or machine_memory()
    total = file_size + kv + OVERHEAD_BYTES
    return RamEstimate(file_size, kv, OVERHEAD_BYTES, machine, fit_of(total, machine), exact)


def set_estimate(
    models: Sequence[ModelNeed], n_ctx: int = 4096, machine: int | None = None
) -> SetEstimate:
    """Whether `models` fit in memory all at once at `n_ctx`; if not, the largest standard
    context below it at which they do; if none, whether each fits alone (one after the other).
    The sentence says which, in words a person reads before pressing Run."""
    if not models:
        raise ValueError("set_estimate needs at least one model")
    if n_ctx <= 0:
        raise ValueError(f"the context must be a positive number of tokens, not {n_ctx}")
    machine = machine or machine_memory()
    names = tuple(m.name for m in models)
    asked = _each(models, n_ctx, machine)
    total = sum(e.total for e in asked)

    def result(plan: Plan, run_ctx: int, run_total: int, sentence: str) -> SetEstimate:
        return SetEstimate(names, n_ctx, asked, machine, plan, run_ctx, run_total, sentence)

    if fit_of(total, machine) != "won't fit":
        return result("at once", n_ctx, total, _at_once(names, n_ctx, total, machine))
    for ctx in (c for c in STANDARD_CONTEXTS if c < n_ctx):
        smaller = sum(e.total for e in _each(models, ctx, machine))
        if fit_of(smaller, machine) != "won't fit":
            sentence = (
                f"{_together(names)} about {_gb(total)} at {_tokens(n_ctx)} of context, "
                f"more than this machine's {_gb(machine)} allows; at {_tokens(ctx)} "
                f"{'they fit at once' if len(names) > 1 else 'it fits'} (about {_gb(smaller)})."
            )
            return result("smaller context", ctx, smaller, sentence)
    too_big = [name for name, e in zip(names, asked, strict=True) if e.fit == "won't fit"]
    if not too_big:
        floor = min((c for c in STANDARD_CONTEXTS if c < n_ctx), default=n_ctx)
        biggest = max(e.total for e in asked)
        sentence = (
            f"{_together(names)} about {_gb(total)}, more than this machine's "
            f"{_gb(machine)} allows even at {_tokens(floor)} of context; each fits alone "
            f"(the largest needs about {_gb(biggest)}), so run them one after the other."
        )
        return result("one after the other", n_ctx, biggest, sentence)
    need = max(e.total for name, e in zip(names, asked, strict=True) if name in too_big)
    sentence = (
        f"{_join(too_big)} alone {'needs' if len(too_big) == 1 else 'need'} about {_gb(need)} "
        f"at {_tokens(n_ctx)} of context, more than this machine's {_gb(machine)} allows: "
        "pick a smaller model or quantization."
    )
    return result("too big", n_ctx, need, sentence)


def needs_of(entries: Sequence[CatalogModel]) -> tuple[ModelNeed, ...]:
    """Catalog models as a set to estimate: their listed sizes, the KV cache estimated (the
    catalog has no headers; a downloaded file's own header gives the exact figure)."""
    return tuple(ModelNeed(entry.id, entry.size) for entry in entries)


def needs_of_installed(models: Sequence[InstalledModel]) -> tuple[ModelNeed, ...]:
    """Installed models as a set to estimate, each with the exact KV cache of its header: what
    the compare view asks before it loads its columns."""
    return tuple(ModelNeed(m.id, m.info.file_size, m.info.kv_bytes_per_token()) for m in models)


def _each(models: Sequence[ModelNeed], n_ctx: int, machine: int) -> tuple[RamEstimate, ...]:
    return tuple(estimate_ram(m.file_size, n_ctx, m.kv_per_token, machine) for m in models)


def _at_once(names: tuple[str, ...], n_ctx: int, total: int, machine: int) -> str:
    subject = (
        "It fits" if len(names) == 1 else "Both fit" if len(names) == 2 else f"All {len(names)} fit"
    )
    where = "in memory" if len(names) == 1 else "in memory at once"
    figures = f"about {_gb(total)} of this machine's {_gb(machine)}"
    if fit_of(total, machine) == "tight":
        return (
            f"{subject} {where} at {_tokens(n_ctx)} of context, but tightly: {figures}. "
            "Close other programs first."
        )
    return f"{subject} {where} at {_tokens(n_ctx)} of context: {figures}."


def _together(names: tuple[str, ...]) -> str:
    return "Together they need" if len(names) > 1 else "It needs"


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _tokens(n_ctx: int) -> str:
    return f"{n_ctx:,} tokens"


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB"
