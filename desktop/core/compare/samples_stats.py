"""What N samples of one column say about its model: how diverse the samples are (distinct-1
and distinct-2), how long they run, how often the model ends by itself, and how uncertain it is
at each position (the mean entropy curve).

Pure functions on plain data: token ids, stop reasons and entropies go in, frozen dataclasses
come out, so the many-samples view, the CLI and the tests share one definition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from desktop.core.engine.events import StopReason

# A model that stopped on its own end-of-turn token or on a stop string ended by itself; the
# max-tokens limit, a full context or the user's Stop cut it short.
SELF_ENDED = frozenset({StopReason.EOS, StopReason.STOP_STRING})


@dataclass(frozen=True)
class EntropyCurve:
    """The mean entropy at each position, over the samples that reach it with a known value.

    `samples[i]` says how many samples `mean[i]` averages: the tail of the curve rests on the
    few long samples, and a chart should show that. `mean[i]` is None where no sample had a
    known entropy. The unit is the input's (Duet's engines report nats).
    """

    mean: tuple[float | None, ...]
    samples: tuple[int, ...]


@dataclass(frozen=True)
class SampleStats:
    """One column's N samples, summarised. A figure is None where it is undefined (no samples,
    or no n-grams to count), which is not the same as 0."""

    samples: int
    distinct_1: float | None
    distinct_2: float | None
    mean_tokens: float | None
    ended_by_itself: float | None  # share of the samples, 0..1
    entropy: EntropyCurve


def distinct_n(samples: Sequence[Sequence[int]], n: int) -> float | None:
    """Distinct-n across samples (Li et al. 2016): unique n-grams over all n-grams, pooled over
    every sample, counted on the model's own token ids (not words, so figures compare only
    between runs of the same tokenizer). An n-gram never spans two samples. None when there is
    no n-gram at all."""
    if n < 1:
        raise ValueError(f"n must be 1 or more, not {n}")
    total = 0
    seen: set[tuple[int, ...]] = set()
    for sample in samples:
        grams = [tuple(sample[i : i + n]) for i in range(len(sample) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else None


def mean_length(samples: Sequence[Sequence[int]]) -> float | None:
    """Mean number of generated tokens per sample; None without samples."""
    return sum(len(s) for s in samples) / len(samples) if samples else None


def ended_by_itself(reasons: Sequence[StopReason | None]) -> float | None:
    """Share of samples that ended by themselves (EOS or a stop string). A failed sample (None)
    counts among the samples but did not end by itself. None without samples."""
    if not reasons:
        return None
    return sum(1 for r in reasons if r in SELF_ENDED) / len(reasons)


def entropy_curve(entropies: Sequence[Sequence[float | None]]) -> EntropyCurve:
    """Each position's mean entropy over the samples that reach it. An unknown value (None, or
    a NaN or infinity from a distribution that could not be read) is left out of its position's
    mean rather than poisoning it."""
    length = max((len(e) for e in entropies), default=0)
    sums = [0.0] * length
    counts = [0] * length
    for sample in entropies:
        for position, value in enumerate(sample):
            if value is not None and math.isfinite(value):
                sums[position] += value
                counts[position] += 1
    mean = tuple(s / c if c else None for s, c in zip(sums, counts, strict=True))
    return EntropyCurve(mean, tuple(counts))


def sample_stats(
    token_ids: Sequence[Sequence[int]],
    reasons: Sequence[StopReason | None],
    entropies: Sequence[Sequence[float | None]] = (),
) -> SampleStats:
    """A column's statistics from its samples: each sample's generated token ids, its stop
    reason (None for a sample that failed) and, if known, each token's entropy (empty when the
    engine reports none)."""
    if len(reasons) != len(token_ids):
        raise ValueError(
            f"{len(token_ids)} samples of tokens but {len(reasons)} stop reasons: "
            "give one stop reason per sample"
        )
    if entropies and len(entropies) != len(token_ids):
        raise ValueError(
            f"{len(token_ids)} samples of tokens but {len(entropies)} of entropies: "
            "give one list of entropies per sample, or none"
        )
    return SampleStats(
        samples=len(token_ids),
        distinct_1=distinct_n(token_ids, 1),
        distinct_2=distinct_n(token_ids, 2),
        mean_tokens=mean_length(token_ids),
        ended_by_itself=ended_by_itself(reasons),
        entropy=entropy_curve(entropies),
    )
