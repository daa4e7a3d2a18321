"""Token shift: which tokens of one model's text another model would have written too.

After Lin et al. 2023, "The Unlocking Spell on Base LLMs: Rethinking Alignment via In-Context
Learning": teacher-force a text (usually the instruct model's answer) through another model
(usually the base model) in the same context, and rank each token among that model's choices.
*Unshifted*: its top choice; *marginal*: in its top 3; *shifted*: outside. The paper found most
of an aligned model's tokens unshifted, the difference living in a few positions, mostly style
and safety words.

The labels are on the scoring model's own tokenization of the text: two models with different
tokenizers cut the same text differently, and a model can only rank its own tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from desktop.core.chat.tokens import TokenRecord
from desktop.core.engine.events import Alternative

MARGINAL_RANK = 3  # a token ranked below the top choice but within the top 3 is marginal


class ShiftLabel(str, Enum):
    UNSHIFTED = "unshifted"  # the scoring model's top choice
    MARGINAL = "marginal"  # in its top 3, not first
    SHIFTED = "shifted"  # outside its top 3

    def describe(self) -> str:
        return {
            "unshifted": "the other model's first choice too",
            "marginal": f"in the other model's top {MARGINAL_RANK}",
            "shifted": f"outside the other model's top {MARGINAL_RANK}",
        }[self.value]


LABELS: tuple[ShiftLabel, ...] = tuple(ShiftLabel)


@dataclass(frozen=True)
class ShiftedToken:
    """One token of the text, as the scoring model tokenized and ranked it."""

    token_id: int
    piece: str
    logprob: float | None
    top: tuple[Alternative, ...]  # the scoring model's top choices here, best first
    rank: int | None  # this token's place among them from 0; None when outside them
    label: ShiftLabel

    @property
    def instead(self) -> str:
        """What the scoring model would have written here: its top choice."""
        return self.top[0].text if self.top else ""


@dataclass(frozen=True)
class TokenShift:
    """A text's tokens labelled by another model; `author` wrote it, `scorer` ranked it."""

    author: str
    scorer: str
    tokens: tuple[ShiftedToken, ...]

    def count(self, label: ShiftLabel) -> int:
        return sum(1 for t in self.tokens if t.label is label)

    def share(self, label: ShiftLabel) -> float:
        return self.count(label) / len(self.tokens) if self.tokens else 0.0

    @property
    def shifted(self) -> tuple[tuple[int, ShiftedToken], ...]:
        """The shifted tokens with their index in the text, in order."""
        return tuple((i, t) for i, t in enumerate(self.tokens) if t.label is ShiftLabel.SHIFTED)

    def summary(self) -> str:
        shares = ", ".join(f"{self.share(label):.0%} {label.value}" for label in LABELS)
        return f"{len(self.tokens)} tokens of {self.author}, ranked by {self.scorer}: {shares}"


def rank_of(record: TokenRecord) -> int | None:
    return next((i for i, alt in enumerate(record.top) if alt.token_id == record.token_id), None)


def label_for(rank: int | None) -> ShiftLabel:
    if rank == 0:
        return ShiftLabel.UNSHIFTED
    if rank is not None and rank < MARGINAL_RANK:
        return ShiftLabel.MARGINAL
    return ShiftLabel.SHIFTED


def token_shift(records: Sequence[TokenRecord], author: str, scorer: str) -> TokenShift:
    """Label scored tokens. Each record's `top` must hold at least MARGINAL_RANK choices, as
    scoring with TOP_K gives; with fewer, a token outside them counts as shifted."""
    tokens = []
    for record in records:
        rank = rank_of(record)
        tokens.append(
            ShiftedToken(
                record.token_id, record.piece, record.logprob, record.top, rank, label_for(rank)
            )
        )
    return TokenShift(author, scorer, tuple(tokens))


def describe_choices(token: ShiftedToken, count: int = 3) -> str:
    """The scoring model's top choices here, as `'a' 41%, 'b' 12%`."""
    return ", ".join(f"{alt.text!r} {math.exp(alt.logprob):.0%}" for alt in token.top[:count])


def shift_lines(shift: TokenShift, limit: int = 40) -> list[str]:
    """The shift in plain text: the shares, then each shifted token and what the scoring model
    would have written instead (at most `limit` of them)."""
    lines = [
        f"Token shift of {shift.author}'s text, ranked by {shift.scorer} on its own tokens: "
        + ", ".join(
            f"{shift.count(label)} {label.value} ({shift.share(label):.0%})" for label in LABELS
        )
        + "."
    ]
    shifted = shift.shifted
    if shifted:
        lines.append(f"Shifted tokens, and what {shift.scorer} would have written instead:")
    for index, token in shifted[:limit]:
        lines.append(f"  #{index} {token.piece!r} -> {describe_choices(token)}")
    if len(shifted) > limit:
        lines.append(f"  ... and {len(shifted) - limit} more")
    return lines


def shift_json(shift: TokenShift) -> dict[str, object]:
    """The shift as plain data for exports."""
    return {
        "author": shift.author,
        "scorer": shift.scorer,
        "tokenization": "the scorer's own",
        "marginal_rank": MARGINAL_RANK,
        "counts": {label.value: shift.count(label) for label in LABELS},
        "tokens": [
            {
                "id": t.token_id,
                "text": t.piece,
                "label": t.label.value,
                "rank": t.rank,
                "logprob": t.logprob,
                "top": [{"id": a.token_id, "text": a.text, "logprob": a.logprob} for a in t.top],
            }
            for t in shift.tokens
        ],
    }
