"""Token shift labels from hand-made scores: rank 0 unshifted, ranks 1-2 marginal, else shifted."""

from __future__ import annotations

from desktop.core.chat.tokens import TokenRecord
from desktop.core.compare.shift import ShiftLabel, token_shift
from desktop.core.engine.events import Alternative


def record(token_id: int, ranked: list[int]) -> TokenRecord:
    top = tuple(Alternative(t, f"<{t}>", -0.1 * (i + 1)) for i, t in enumerate(ranked))
    return TokenRecord(token_id, f"<{token_id}>", -1.0, top)


def test_each_rank_has_its_label() -> None:
    shift = token_shift(
        [
            record(1, [1, 2, 3, 4, 5]),
            record(2, [1, 2, 3, 4, 5]),
            record(3, [1, 2, 3, 4, 5]),
            record(4, [1, 2, 3, 4, 5]),
            record(9, [1, 2, 3, 4, 5]),
            record(7, []),  # scored without choices: nothing says the scorer would pick it
        ],
        author="instruct",
        scorer="base",
    )
    assert [t.label for t in shift.tokens] == [
        ShiftLabel.UNSHIFTED,
        ShiftLabel.MARGINAL,
        ShiftLabel.MARGINAL,
        ShiftLabel.SHIFTED,
        ShiftLabel.SHIFTED,
        ShiftLabel.SHIFTED,
    ]
    assert [t.rank for t in shift.tokens] == [0, 1, 2, 3, None, None]
    assert shift.count(ShiftLabel.SHIFTED) == 3 and shift.share(ShiftLabel.UNSHIFTED) == 1 / 6
    assert [i for i, _ in shift.shifted] == [3, 4, 5]
    assert shift.tokens[4].instead == "<1>" and shift.tokens[5].instead == ""
    assert (
        shift.summary()
    ) == "6 tokens of instruct, ranked by base: 17% unshifted, 33% marginal, 50% shifted"


def test_an_empty_text_has_no_shares() -> None:
    shift = token_shift([], "a", "b")
    assert shift.share(ShiftLabel.SHIFTED) == 0.0 and shift.shifted == ()
