"""Many samples per column, summarised: distinct-1/2 across samples on token ids, mean length,
the share of samples that ended by themselves, and the per-position entropy curve. Every
expected value below is worked out by hand in the comment beside it."""

from __future__ import annotations

import math

import pytest

from desktop.core.compare.samples_stats import (
    SampleStats,
    distinct_n,
    ended_by_itself,
    entropy_curve,
    mean_length,
    sample_stats,
)
from desktop.core.engine.events import StopReason

EOS, STOP, LENGTH = StopReason.EOS, StopReason.STOP_STRING, StopReason.MAX_TOKENS


# distinct-n ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("samples", "n", "expected"),
    [
        # unigrams 1 2 3 1 2 4: 6 in all, 4 distinct
        ([[1, 2, 3], [1, 2, 4]], 1, 4 / 6),
        # bigrams (1,2) (2,3) (1,2) (2,4): 4 in all, 3 distinct
        ([[1, 2, 3], [1, 2, 4]], 2, 3 / 4),
        # one sample repeating itself: 1 of 4 unigrams, 1 of 3 bigrams distinct
        ([[5, 5, 5, 5]], 1, 1 / 4),
        ([[5, 5, 5, 5]], 2, 1 / 3),
        # identical samples: distinct-n halves with two copies
        ([[1, 2], [1, 2]], 1, 2 / 4),
        # bigrams stay inside a sample: (1,2) twice, never the (2,1) across the seam
        ([[1, 2], [1, 2]], 2, 1 / 2),
        # all different
        ([[1, 2], [3, 4]], 2, 1.0),
        # a one-token sample has no bigram; the other has one
        ([[7], [7, 8]], 1, 2 / 3),
        ([[7], [7, 8]], 2, 1.0),
        # an empty sample adds nothing
        ([[], [9, 9]], 1, 1 / 2),
    ],
)
def test_distinct_n_on_hand_counted_samples(
    samples: list[list[int]], n: int, expected: float
) -> None:
    assert distinct_n(samples, n) == pytest.approx(expected)


@pytest.mark.parametrize(
    "samples",
    [
        [],  # no samples
        [[], []],  # samples with no tokens
    ],
)
def test_distinct_n_is_unknown_without_ngrams(samples: list[list[int]]) -> None:
    assert distinct_n(samples, 1) is None
    assert distinct_n(samples, 2) is None


def test_distinct_2_is_unknown_when_no_sample_has_two_tokens() -> None:
    # Across the seam [1] [1] would be the bigram (1,1): it must not be counted.
    assert distinct_n([[1], [1]], 2) is None
    assert distinct_n([[1], [1]], 1) == pytest.approx(1 / 2)


def test_distinct_n_refuses_n_below_one() -> None:
    with pytest.raises(ValueError, match="n must be 1 or more"):
        distinct_n([[1, 2]], 0)


# mean length, ended by itself -----------------------------------------------------------------


def test_mean_length_counts_tokens_per_sample() -> None:
    assert mean_length([[1, 2, 3], [1]]) == pytest.approx(2.0)  # (3 + 1) / 2
    assert mean_length([[], []]) == 0.0
    assert mean_length([[4, 4, 4, 4, 4]]) == 5.0
    assert mean_length([]) is None


def test_ended_by_itself_counts_eos_and_stop_strings_only() -> None:
    # EOS and a stop string end by themselves; max tokens and a failed sample (None) do not.
    assert ended_by_itself([EOS, STOP, LENGTH, None]) == pytest.approx(2 / 4)
    assert ended_by_itself([StopReason.CONTEXT_FULL, StopReason.CANCELLED]) == 0.0
    assert ended_by_itself([EOS]) == 1.0
    assert ended_by_itself([]) is None


# entropy curve ------------------------------------------------------------------------------


def test_entropy_curve_is_the_mean_over_the_samples_that_reach_each_position() -> None:
    curve = entropy_curve([[1.0, 2.0, 3.0], [3.0, 4.0]])
    # position 0: (1+3)/2, position 1: (2+4)/2, position 2: only the first sample reaches it
    assert curve.mean == pytest.approx((2.0, 3.0, 3.0))
    assert curve.samples == (2, 2, 1)


def test_entropy_curve_skips_unknown_entropies() -> None:
    curve = entropy_curve([[None, 1.0, None], [2.0, None], [4.0, 5.0]])
    # position 0: (2+4)/2 from two known values; position 1: (1+5)/2; position 2: none known
    assert curve.mean == pytest.approx((3.0, 3.0, None))
    assert curve.samples == (2, 2, 0)


def test_entropy_curve_edge_cases() -> None:
    assert entropy_curve([]).mean == () and entropy_curve([]).samples == ()
    assert entropy_curve([[], []]).mean == ()
    one = entropy_curve([[0.5, 0.0, 2.25]])
    assert one.mean == (0.5, 0.0, 2.25) and one.samples == (1, 1, 1)


def test_entropy_curve_ignores_values_that_are_not_finite() -> None:
    # A NaN from a broken distribution must not poison the mean of its position.
    curve = entropy_curve([[math.nan, 1.0], [2.0, math.inf]])
    assert curve.mean == (2.0, 1.0) and curve.samples == (1, 1)


# a column's statistics ----------------------------------------------------------------------


def test_sample_stats_of_a_column() -> None:
    stats = sample_stats(
        token_ids=[[1, 2, 3], [1, 2, 4], [1]],
        reasons=[EOS, LENGTH, STOP],
        entropies=[[0.5, 1.0, 1.5], [0.5, 2.0, 0.5], [2.0]],
    )
    assert isinstance(stats, SampleStats)
    assert stats.samples == 3
    # unigrams 1 2 3 1 2 4 1: 7 in all, 4 distinct; bigrams (1,2) (2,3) (1,2) (2,4): 3 of 4
    assert stats.distinct_1 == pytest.approx(4 / 7)
    assert stats.distinct_2 == pytest.approx(3 / 4)
    assert stats.mean_tokens == pytest.approx(7 / 3)
    assert stats.ended_by_itself == pytest.approx(2 / 3)
    assert stats.entropy.mean == pytest.approx(
        (1.0, 1.5, 1.0)
    )  # (0.5+0.5+2)/3, (1+2)/2, (1.5+.5)/2
    assert stats.entropy.samples == (3, 2, 2)


def test_sample_stats_of_no_samples() -> None:
    stats = sample_stats([], [])
    assert stats == SampleStats(
        samples=0,
        distinct_1=None,
        distinct_2=None,
        mean_tokens=None,
        ended_by_itself=None,
        entropy=entropy_curve([]),
    )


def test_sample_stats_of_empty_samples() -> None:
    stats = sample_stats([[], []], [EOS, EOS])
    assert (stats.samples, stats.distinct_1, stats.distinct_2) == (2, None, None)
    assert (stats.mean_tokens, stats.ended_by_itself) == (0.0, 1.0)
    assert stats.entropy.mean == ()


def test_sample_stats_of_one_sample_without_entropies() -> None:
    stats = sample_stats([[3, 1, 3]], [LENGTH])
    assert stats.distinct_1 == pytest.approx(2 / 3)  # 3 1 3
    assert stats.distinct_2 == 1.0  # (3,1) (1,3)
    assert (stats.mean_tokens, stats.ended_by_itself, stats.entropy.mean) == (3.0, 0.0, ())


def test_sample_stats_refuses_lists_that_do_not_match() -> None:
    with pytest.raises(ValueError, match="2 samples of tokens but 1 stop reason"):
        sample_stats([[1], [2]], [EOS])
    with pytest.raises(ValueError, match="2 samples of tokens but 3 of entropies"):
        sample_stats([[1], [2]], [EOS, EOS], entropies=[[0.1], [0.2], [0.3]])


def test_sample_stats_is_frozen() -> None:
    stats = sample_stats([[1]], [EOS])
    with pytest.raises(AttributeError):
        stats.samples = 2  # type: ignore[misc]


def test_many_long_samples_are_summarised_quickly() -> None:
    """Bounded, not a benchmark: 64 samples of 4096 tokens in well under two seconds."""
    import time

    samples = [[(i * 7 + j * 13) % 5000 for j in range(4096)] for i in range(64)]
    entropies = [[(j % 10) / 10 for j in range(4096)] for _ in range(64)]
    start = time.perf_counter()
    stats = sample_stats(samples, [EOS] * 64, entropies)
    assert time.perf_counter() - start < 2.0
    assert stats.samples == 64 and len(stats.entropy.mean) == 4096
