from __future__ import annotations

import pytest

from desktop.core.compare.run import Divergence, compare_config, first_divergence


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (["The", " cat", " sat"], ["The", " cat", " sat"], None),
        (["The", " cat", " sat"], ["The", " cat", " ran"], Divergence(8, 2, 2)),
        (["The", " dog"], ["The", " cat"], Divergence(4, 1, 1)),
        # Different tokenizers: same text split differently, then a difference.
        (["Hel", "lo", " world", "!"], ["Hello", " wor", "ld", "?"], Divergence(11, 3, 3)),
        (["Yes"], ["No"], Divergence(0, 0, 0)),
        # One column stopped first: the divergence is past its last token.
        (["Hi", " there"], ["Hi", " there", " friend"], Divergence(8, 2, 2)),
        ([], ["x"], Divergence(0, 0, 0)),
    ],
)
def test_first_divergence_on_known_sequences(
    a: list[str], b: list[str], expected: Divergence | None
) -> None:
    assert first_divergence(a, b) == expected


def test_threads_are_shared_out_between_columns() -> None:
    assert (compare_config(2, cores=2).n_threads, compare_config(2, cores=2).n_threads_batch) == (
        1,
        1,
    )
    assert compare_config(3, cores=2).n_threads == 1
    assert compare_config(2, cores=8).n_threads == 4
