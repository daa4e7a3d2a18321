"""`duet compare`: one input through two to four installed models (or a catalog line-up: a pair,
a pair with its base aligned by examples, a ladder's stages), their outputs, the first
divergence, and optionally each output scored by the next model and its token shift; or, with
--samples N, N samples of each model and what they say about it. Models that do not fit in
memory together run one at a time."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.cli.inputs import read_text, starter
from desktop.cli.output import fail
from desktop.core.atomic_file import NotARegularFile, refuse_special
from desktop.core.chat.prompts import MODES, Mode
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine.factory import local_config, open_engine, render_input
from desktop.core.errors import DuetError, InvalidPrompt
from desktop.core.models.library import InstalledModel, Library

if TYPE_CHECKING:  # loaded when a comparison runs, not for every command
    from desktop.core.chat.fork import Fork
    from desktop.core.compare.fit import ColumnsPlan
    from desktop.core.compare.run import Column
    from desktop.core.compare.samples import SampleColumn, SampleRun


def cmd_compare(args: argparse.Namespace) -> int:
    from desktop.core.compare.export import save, write_comparator_json
    from desktop.core.compare.run import (
        Column,
        Comparison,
        compare_config,
        forked,
        run_columns,
        score_with,
    )

    text = read_text(args.text)
    if not text.strip():
        raise InvalidPrompt("The text is empty: give the models something to continue or answer.")
    _check_target(args.export, "--export")
    _check_target(args.comparator, "--comparator")
    models, aligned = _models(args.models)
    modes, examples = _modes(args.mode, len(models))
    if any(a and mode == "raw" for a, mode in zip(aligned, modes, strict=True)):
        raise DuetError(
            "A +examples line-up aligns its base model's chat by examples: give it --mode chat "
            "(the default), or name the pair without +examples for raw mode."
        )
    aligned = [a or e for a, e in zip(aligned, examples, strict=True)]
    if args.samples is not None:
        return _cmd_samples(args, text, models, modes, aligned)
    temperature = 0.0 if args.temperature is None else args.temperature
    sampling = SamplingParams(
        temperature=temperature, max_tokens=args.max_tokens, seed=args.seed
    ).validated()
    columns = [
        Column(model, mode, render_input(model, mode, text, args.system, aligned=examples))
        for model, mode, examples in zip(models, modes, aligned, strict=True)
    ]
    comparison = Comparison(text, args.system, sampling, columns)
    if args.fork_at is not None and args.fork_at < 0:
        raise InvalidPrompt(f"--fork-at counts tokens from 0: {args.fork_at} is not one.")
    fork_error = ""
    plan = _plan(models, args)
    config = compare_config(1 if plan.one_at_a_time else len(columns), n_ctx=plan.n_ctx)
    engines = [open_engine(model, config) for model in models]
    try:
        run_columns(engines, comparison, one_at_a_time=plan.one_at_a_time)
        if args.score or args.shift:
            for i, column in enumerate(columns):
                other = (i + 1) % len(columns)
                # A column that failed or wrote nothing has nothing to score.
                if column.text and not column.error and not columns[other].error:
                    score_with(engines[other], column, columns[other])
                    if plan.one_at_a_time:  # as in the run: one model in memory at a time
                        engines[other].close()
        after = None
        if args.fork_at is not None:
            try:
                after = forked(comparison, _fork(columns[0], args.fork_at, args.fork_with))
            except DuetError as exc:  # the outputs above are still worth printing
                fork_error = str(exc)
            else:
                run_columns(engines, after, one_at_a_time=plan.one_at_a_time)
    except KeyboardInterrupt:
        # Ctrl+C: the columns stop within a token; closing an engine waits for its column.
        for engine in engines:
            engine.cancel()
        raise
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
    if fork_error:
        fail(fork_error)
    if after is not None and after.fork is not None:
        fork = after.fork
        print(
            f"\n--- {fork.describe()} of {columns[0].model.id}: every column goes on from "
            f"{fork.text[-80:]!r} ---\n"
        )
        for column in after.columns:
            _show(column)
    if args.export:
        save(after or comparison, args.export)
        print(f"Saved {args.export}", file=sys.stderr)
    if args.comparator:
        write_comparator_json([c for c in (comparison, after) if c is not None], args.comparator)
        print(f"Saved {args.comparator} (LLM Comparator)", file=sys.stderr)
    failed = fork_error or any(c.error for c in [*columns, *(after.columns if after else [])])
    return 1 if failed else 0


def _check_target(path: Path | None, flag: str) -> None:
    """Before any model runs: a file to save to, in a folder that exists. A pipe or a device
    there would be replaced by the saved file, and a missing folder found only at the end."""
    if path is None:
        return
    try:
        refuse_special(path)
    except NotARegularFile as exc:
        raise DuetError(
            f"{flag} {path} is {exc.strerror}: give the name of a file to save to."
        ) from None
    if not path.parent.is_dir():
        raise DuetError(
            f"{flag} {path}: there is no such folder as {path.parent}. Create it, or choose "
            "another folder."
        )


def _fork(column: Column, index: int, choice: str | None) -> Fork:
    """Token `index` of the first column's output, replaced by `choice` (by default its
    model's second choice there)."""
    from desktop.core.chat.fork import fork_at

    if choice is None:
        if not 0 <= index < len(column.tokens):
            raise InvalidPrompt(
                f"There is no token {index} to fork at: {column.model.id} wrote "
                f"{len(column.tokens)}."
            )
        others = [
            a.text for a in column.tokens[index].top if a.token_id != column.tokens[index].token_id
        ]
        if not others:
            raise InvalidPrompt(f"Token {index} has no other choice recorded: give --fork-with.")
        choice = others[0]
    return fork_at(column.texts, index, choice)


def _models(names: str) -> tuple[list[InstalledModel], list[bool]]:
    """The models named, or the models of the catalog line-up named (a pair, PAIR+examples, a
    ladder); with each, whether the line-up aligns it by examples."""
    from desktop.core.compare.lineups import MAX_COLUMNS, MIN_COLUMNS, lineup_named

    library = Library()
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    if names.strip() and not wanted:
        raise DuetError(f"--models {names!r} names no model: give A,B[,C,D] or a line-up's id.")
    if not wanted:
        return [starter(library, "raw"), starter(library, "chat")], [False, False]
    if len(wanted) == 1:
        installed = {m.id for m in library.models()}
        lineup = lineup_named(library.catalog, installed, wanted[0])
        if lineup is not None:
            if not lineup.ready:
                raise DuetError(lineup.why_not())
            models = [library.resolve(seat.model_id) for seat in lineup.seats]
            return models, [seat.aligned for seat in lineup.seats]
    if not MIN_COLUMNS <= len(wanted) <= MAX_COLUMNS:
        raise DuetError(
            f"Compare takes {MIN_COLUMNS} to {MAX_COLUMNS} models (--models A,B[,C,D]), or a "
            "catalog pair or ladder (--models PAIR, PAIR+examples or LADDER)."
        )
    models = [library.resolve(name) for name in wanted]
    return models, [False] * len(models)


def _modes(spec: str, count: int) -> tuple[list[Mode], list[bool]]:
    """One mode for all, or one per model; "examples" is chat mode with a base model aligned
    by examples (other models keep their own template)."""
    named: dict[str, tuple[Mode, bool]] = {mode: (mode, False) for mode in MODES}
    named["examples"] = ("chat", True)
    given = [named.get(name.strip()) for name in spec.split(",")]
    chosen = [mode for mode in given if mode is not None]
    chosen = chosen * count if len(given) == 1 else chosen
    if len(given) not in (1, count) or len(chosen) != count:
        raise DuetError(
            "--mode is raw, chat or examples (a base model's chat aligned by examples), or one "
            "per model (raw,chat)."
        )
    return [mode for mode, _ in chosen], [examples for _, examples in chosen]


def _plan(models: list[InstalledModel], args: argparse.Namespace) -> ColumnsPlan:
    """How the models run in memory; said on stderr when it is not all at once as asked."""
    from desktop.core.compare.fit import plan_columns

    config = local_config(args.ctx)
    config.check()  # a context out of range is refused in words, before any estimate
    asked = config.n_ctx
    plan = plan_columns(models, asked, one_at_a_time=args.one_at_a_time)
    if plan.one_at_a_time or plan.n_ctx != asked:
        print(plan.sentence, file=sys.stderr)
    return plan


def _show(column: Column, shift: bool = False) -> None:
    from desktop.core.chat.aligned import ALIGNED_TEMPLATE_NAME

    how = f"{column.mode}, aligned by examples"
    if column.prompt.template_name != ALIGNED_TEMPLATE_NAME:
        how = column.mode
    print(f"=== {column.model.id} ({column.model.kind}, {how}) ===")
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


# Many samples --------------------------------------------------------------------------------


def _cmd_samples(
    args: argparse.Namespace,
    text: str,
    models: list[InstalledModel],
    modes: list[Mode],
    aligned: list[bool],
) -> int:
    """N samples of each model with the same seeds, then each model's figures."""
    from desktop.core.compare.export import save_samples
    from desktop.core.compare.run import compare_config
    from desktop.core.compare.samples import SamplesJob, check_count, greedy_note, plan_samples

    check_count(args.samples)
    if args.score or args.shift or args.fork_at is not None or args.comparator:
        raise DuetError(
            "--score, --shift, --fork-at and --comparator work on one output per model, "
            "--samples on many: drop one."
        )
    if args.export is not None and args.export.suffix.lower() != ".json":
        raise DuetError(f"--samples saves JSON: give a FILE.json to --export, not {args.export}.")
    temperature = SamplingParams().temperature if args.temperature is None else args.temperature
    sampling = SamplingParams(temperature=temperature, max_tokens=args.max_tokens, seed=args.seed)
    columns = [
        (model, mode, render_input(model, mode, text, args.system, aligned=examples))
        for model, mode, examples in zip(models, modes, aligned, strict=True)
    ]
    if args.one_at_a_time:
        raise DuetError("--samples runs every model at once: drop --one-at-a-time.")
    fit = _plan(models, args)
    if fit.one_at_a_time:
        raise DuetError(
            "--samples runs every model at once, and these do not fit in memory together: "
            "compare fewer or smaller models."
        )
    plan = plan_samples(text, args.system, columns, sampling, args.samples)
    if (note := greedy_note(plan.sampling)) is not None:
        print(f"warning: {note}", file=sys.stderr)
    config = compare_config(len(columns), n_ctx=fit.n_ctx)
    engines = [open_engine(model, config) for model in models]
    job = SamplesJob(engines, _progress(args.samples) if sys.stderr.isatty() else None)
    try:
        run = job.run(plan)
    finally:
        for engine in engines:
            engine.close()
    _show_run(run)
    if args.export:
        save_samples(run, args.export)
        print(f"Saved {args.export}", file=sys.stderr)
    return 1 if any(c.error for c in run.columns) else 0


def _progress(count: int) -> Callable[[int, int, object], None]:
    def tell(column: int, number: int, _sample: object) -> None:
        print(f"column {column + 1}: sample {number + 1}/{count}", file=sys.stderr)

    return tell


def _show_run(run: SampleRun) -> None:
    seeds = run.seeds
    # One scale for every model's sparkline, so their heights compare.
    top = max((m for c in run.columns for m in c.stats.entropy.mean if m is not None), default=0.0)
    for column in run.columns:
        print(
            f"=== {column.model.id} ({column.model.kind}, {column.mode}) · "
            f"{run.plan.count} samples, seeds {seeds[0]}..{seeds[-1]} ==="
        )
        for number, sample in enumerate(column.samples, start=1):
            preview = " ".join(sample.text.split())
            preview = preview[:60] + "…" if len(preview) > 60 else preview
            print(
                f"  #{number} seed {sample.seed} · {len(sample.tokens)} tokens · "
                f"{sample.describe()} · {preview!r}"
            )
        if column.error:
            print(f"[error: {column.error}]")
        print("\n".join(sample_lines(column, top or None)))
        print()
    if run.cancelled:
        print("Stopped: the figures are of the samples that finished.")


def sample_lines(column: SampleColumn, top: float | None = None) -> list[str]:
    """A column's figures in three lines: diversity, length and endings, then the entropy (its
    sparkline from 0 to `top` nats, by default the column's own highest)."""
    from desktop.core.compare.samples import HEAD, entropy_split, sparkline

    stats = column.stats
    if not stats.samples:
        return ["No sample finished."]
    ended = stats.ended_by_itself or 0.0
    head, rest = entropy_split(stats.entropy)
    length = len(stats.entropy.mean)
    lines = [
        f"distinct-1 {_figure(stats.distinct_1)} · distinct-2 {_figure(stats.distinct_2)} · "
        f"mean length {_figure(stats.mean_tokens, '.1f')} tokens · ended by itself "
        f"{round(ended * stats.samples)}/{stats.samples} ({ended:.0%})"
    ]
    if head is None:
        lines.append("entropy: not reported by this engine")
        return lines
    after = f" · positions {HEAD + 1}-{length} {rest:.2f}" if rest is not None else ""
    lines.append(f"mean entropy (nats): positions 1-{min(HEAD, length)} {head:.2f}{after}")
    lines.append(f"entropy by position: {sparkline(stats.entropy, top=top)}")
    return lines


def _figure(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)
