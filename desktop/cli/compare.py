"""`duet compare`: one input through two or three installed models at once, their outputs, the
first divergence, and optionally each output scored by the other model and its token shift."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from desktop.cli.inputs import read_text, starter
from desktop.core.chat.prompts import MODES, Mode
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine.factory import local_config, open_engine, render_input
from desktop.core.errors import DuetError, InvalidPrompt
from desktop.core.models.library import InstalledModel, Library

if TYPE_CHECKING:  # loaded when a comparison runs, not for every command
    from desktop.core.compare.run import Column


def cmd_compare(args: argparse.Namespace) -> int:
    from desktop.core.compare.export import save
    from desktop.core.compare.run import (
        Column,
        Comparison,
        compare_config,
        run_columns,
        score_with,
    )

    text = read_text(args.text)
    if not text.strip():
        raise InvalidPrompt("The text is empty: give the models something to continue or answer.")
    models = _models(args.models)
    modes = _modes(args.mode, len(models))
    sampling = SamplingParams(
        temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed
    ).validated()
    columns = [
        Column(model, mode, render_input(model, mode, text, args.system))
        for model, mode in zip(models, modes, strict=True)
    ]
    comparison = Comparison(text, args.system, sampling, columns)
    config = compare_config(len(columns), n_ctx=local_config(args.ctx).n_ctx)
    engines = [open_engine(model, config) for model in models]
    try:
        run_columns(engines, comparison)
        if args.score or args.shift:
            for i, column in enumerate(columns):
                other = (i + 1) % len(columns)
                score_with(engines[other], column, columns[other])
    finally:
        for engine in engines:
            engine.close()
    for column in columns:
        _show(column, args.shift)
    divergence = comparison.divergence
    if divergence is None:
        print("The outputs are identical.")
    else:
        a, b = columns[0], columns[1]
        print(
            f"First divergence: character {divergence.char}, token {divergence.token_a} of {a.model.id} "
            f"and token {divergence.token_b} of {b.model.id}."
        )
    if args.export:
        save(comparison, args.export)
        print(f"Saved {args.export}", file=sys.stderr)
    return 1 if any(c.error for c in columns) else 0


def _models(names: str) -> list[InstalledModel]:
    library = Library()
    if names:
        models = [library.resolve(name.strip()) for name in names.split(",") if name.strip()]
    else:
        models = [starter(library, "raw"), starter(library, "chat")]
    if not 2 <= len(models) <= 3:
        raise DuetError("Compare takes two or three models: --models A,B[,C].")
    return models


def _modes(spec: str, count: int) -> list[Mode]:
    """One mode for all, or one per model."""
    named: dict[str, Mode] = {mode: mode for mode in MODES}
    given = [named.get(name.strip()) for name in spec.split(",")]
    modes = [mode for mode in given if mode is not None]
    modes = modes * count if len(given) == 1 else modes
    if len(given) not in (1, count) or len(modes) != count:
        raise DuetError("--mode is raw or chat, or one per model (raw,chat).")
    return modes


def _show(column: Column, shift: bool = False) -> None:
    print(f"=== {column.model.id} ({column.model.kind}, {column.mode}) ===")
    print(column.text.strip() if column.mode == "chat" else column.text)
    if column.error:
        print(f"[error: {column.error}]")
    elif column.done:
        stats = column.done.stats
        print(
            f"[stopped: {column.done.reason.describe()} · {stats.generated_tokens} tokens · {stats.tokens_per_second:.1f} tok/s]"
        )
    if column.surprise:
        mean = sum(t.logprob or 0 for t in column.surprise) / len(column.surprise)
        print(f"[scored by {column.surprise_model}: mean log-probability {mean:.2f}]")
    if shift and column.shift is not None:
        from desktop.core.compare.shift import shift_lines

        print("\n".join(shift_lines(column.shift)))
    print()
