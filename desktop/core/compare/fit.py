"""How a comparison runs in this machine's memory: every column at once, at once with a smaller
context, or one column after the other with each model freed before the next loads.

The figures are desktop.core.models.memory's (weights + KV cache for the context + runtime, for
each model: every column has its own worker process, so the same model in two columns counts
twice). A column on a server costs this machine nothing and is left out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from desktop.core.engine.factory import Runnable
from desktop.core.models.library import InstalledModel
from desktop.core.models.memory import SetEstimate, needs_of_installed, set_estimate


@dataclass(frozen=True)
class ColumnsPlan:
    one_at_a_time: bool
    n_ctx: int  # the context every local column runs with
    sentence: str  # what the compare view says before Run
    estimate: SetEstimate | None  # None when no column runs on this machine


def plan_columns(
    models: Sequence[Runnable],
    n_ctx: int,
    one_at_a_time: bool = False,
    machine: int | None = None,
) -> ColumnsPlan:
    """The plan for these columns' models at `n_ctx`; `one_at_a_time` is the user's choice
    to run them in turn even when they would fit together."""
    local = [m for m in models if isinstance(m, InstalledModel)]
    if not local:
        return ColumnsPlan(
            one_at_a_time, n_ctx, "Every column runs on a server: nothing loads here.", None
        )
    estimate = set_estimate(needs_of_installed(local), n_ctx, machine)
    if one_at_a_time:
        chosen = "One column at a time, as chosen: each model is freed before the next loads."
        if estimate.plan == "at once":
            chosen += (
                f" They would also fit at once: about {estimate.total / 1e9:.1f} GB of this "
                f"machine's {estimate.machine / 1e9:.1f} GB."
            )
        else:
            chosen += f" {estimate.sentence}"
        return ColumnsPlan(True, n_ctx, chosen, estimate)
    if estimate.plan == "at once":
        return ColumnsPlan(False, n_ctx, estimate.sentence, estimate)
    if estimate.plan == "smaller context":
        return ColumnsPlan(
            False,
            estimate.run_ctx,
            f"{estimate.sentence} The columns run at {estimate.run_ctx:,} tokens.",
            estimate,
        )
    # One after the other, or a model too big even alone: in turn is the best chance either way.
    said = estimate.sentence
    if estimate.plan == "one after the other":
        said += " The columns run one at a time."
    return ColumnsPlan(True, n_ctx, said, estimate)
