"""A comparison saved: Markdown to read, JSON with everything needed to run it again and get
the same tokens (models by repo, file and sha256, prompts, sampling, seeds); and a set of
comparisons as one file for Google PAIR's LLM Comparator. Every file is written atomically."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from desktop import __version__
from desktop.core import atomic_file
from desktop.core.compare.run import Column, Comparison
from desktop.core.compare.samples import Sample, SampleColumn, SampleRun
from desktop.core.compare.shift import shift_json, shift_lines
from desktop.core.engine.factory import identity
from desktop.core.errors import SaveFailed


def to_json(comparison: Comparison) -> dict[str, Any]:
    """Everything needed to run this comparison again and get the same tokens."""
    divergence = comparison.divergence
    return {
        "duet_version": __version__,
        "created": comparison.created,
        "input": comparison.input,
        "system": comparison.system,
        "sampling": comparison.sampling.to_dict(),
        "divergence": asdict(divergence) if divergence else None,
        "columns": [_column_json(c) for c in comparison.columns],
    }


def _column_json(column: Column) -> dict[str, Any]:
    model = identity(column.model, hash_file=True)  # a file not hashed yet is hashed here
    stats = column.done.stats if column.done else None
    return {
        "model": {
            "id": model.id,
            "kind": model.kind,
            "repo_id": model.repo_id,
            "file": model.file,
            "sha256": model.sha256,  # None for a server's model: its weights are not ours to hash
            "quantization": model.quantization,
            "server": model.server,
        },
        "mode": column.mode,
        "template": column.prompt.template_name,
        "prompt": column.prompt.text,
        "stop": list(column.prompt.stop),
        "output": column.text,
        "stop_reason": column.done.reason.value if column.done else None,
        "error": column.error,
        "stats": asdict(stats) if stats else None,
        "seed": stats.seed if stats else None,
        "tokens": [
            {
                "id": t.token_id,
                "text": t.piece,
                "logprob": t.logprob,
                "top": [{"id": a.token_id, "text": a.text, "logprob": a.logprob} for a in t.top],
            }
            for t in column.tokens
        ],
        "scored_by": column.surprise_model,
        "surprise": [{"text": t.piece, "logprob": t.logprob} for t in column.surprise or []],
        "shift": shift_json(shift) if (shift := column.shift) else None,
    }


def to_markdown(comparison: Comparison) -> str:
    lines = [
        f"# Duet comparison\n\n**Input** ({'with system prompt' if comparison.system else 'no system prompt'}):\n"
    ]
    lines.append("```\n" + comparison.input + "\n```\n")
    if comparison.system:
        lines.append(f"**System:** {comparison.system}\n")
    s = comparison.sampling
    lines.append(
        f"Sampling: temperature {s.temperature}, top-p {s.top_p}, top-k {s.top_k}, min-p {s.min_p}, "
        f"repeat penalty {s.repeat_penalty}, max tokens {s.max_tokens}, seed {s.seed}.\n"
    )
    divergence = comparison.divergence
    if divergence is not None:
        a, b = comparison.columns[0], comparison.columns[1]
        lines.append(
            f"**First divergence** at character {divergence.char}: token {divergence.token_a} of "
            f"{a.model.id} ({_piece(a, divergence.token_a)}) against token {divergence.token_b} of "
            f"{b.model.id} ({_piece(b, divergence.token_b)}).\n"
        )
    for column in comparison.columns:
        stats = column.done.stats if column.done else None
        lines.append(f"## {column.model.id} ({column.model.kind}, {column.mode} mode)\n")
        lines.append(f"Template: {column.prompt.template_name or 'none (raw text)'}\n")
        lines.append("```\n" + column.text + "\n```\n")
        if column.error:
            lines.append(f"Error: {column.error}\n")
        if column.done and stats:
            lines.append(
                f"Stopped: {column.done.reason.describe()} · {stats.generated_tokens} tokens · "
                f"{stats.tokens_per_second:.1f} tok/s · seed {stats.seed}\n"
            )
        if column.surprise:
            mean = sum(t.logprob or 0 for t in column.surprise) / len(column.surprise)
            worst = min(column.surprise, key=lambda t: t.logprob or 0)
            lines.append(
                f"Scored by {column.surprise_model}: mean log-probability {mean:.2f}; most "
                f"surprising token {worst.piece!r} ({worst.logprob:.2f}).\n"
            )
        if (shift := column.shift) is not None:
            lines.append("\n".join(shift_lines(shift)) + "\n")
    return "\n".join(lines)


def _piece(column: Column, index: int) -> str:
    return repr(column.tokens[index].piece) if index < len(column.tokens) else "its end"


def save(comparison: Comparison, path: Path) -> None:
    """Duet's own export: JSON for a .json path, else Markdown. Raises SaveFailed."""
    if path.suffix.lower() == ".json":
        text = json.dumps(to_json(comparison), indent=2, ensure_ascii=False)
    else:
        text = to_markdown(comparison)
    save_text(path, text)


def save_text(path: Path, text: str) -> None:
    """`text` as UTF-8 in a new file beside `path`, then moved over it in one step: a full disk
    or a crash mid-write leaves the file that was there whole, never half a file. A failure is a
    SaveFailed saying what to do, never a traceback (the CLI prints DuetErrors as they are)."""
    # A lone surrogate (half of a pasted emoji) has no UTF-8 form. Written as its escape \udXXX
    # it is still valid JSON that reads back as the same string, and Markdown shows where it was.
    data = text.encode("utf-8", errors="backslashreplace")
    try:
        atomic_file.write_atomically(path, data, durable=True)
    except OSError as exc:
        raise SaveFailed(
            f"Could not save {path}: {exc.strerror or exc}. Free some space, or choose another "
            "folder or name."
        ) from exc


# LLM Comparator ------------------------------------------------------------------------------
# Google PAIR's LLM Comparator (github.com/PAIR-code/llm-comparator) opens a set of side-by-side
# examples from one JSON file: its README's "JSON Data Format" and client/lib/types.ts
# (DataResponse, Example, CustomFieldSchema) define it. It compares exactly two outputs per
# example ("Per-model fields must have exactly 2 values"), so a third column is left out.

# Duet's data per example, as LLM Comparator's custom fields: (name, its FieldType). Every
# example carries every one of them; the loader reads each field from each example.
COMPARATOR_FIELDS: tuple[tuple[str, str], ...] = (
    ("model", "per_model_category"),
    ("model_kind", "per_model_category"),
    ("mode", "per_model_category"),
    ("stop_reason", "per_model_category"),
    ("generated_tokens", "per_model_number"),
    ("first_divergence_char", "number"),
    ("error", "per_model_text"),
    ("system_prompt", "text"),
)

_SCORE_NOTE = (
    "Every score is null: Duet runs no rater, so it states no preference between the two "
    "outputs. LLM Comparator shows a null score as 'Null' and counts the example as unknown in "
    "its win rates; 0.0 would claim a tie."
)
_FIELDS_NOTE = (
    "Custom fields from Duet: model and model_kind (base or instruct) of each column; mode (raw "
    "or chat, also the tags); stop_reason (eos, stop, length, context or cancelled; error when "
    "the column failed, its message in error); generated_tokens; first_divergence_char (the "
    "first character where the two outputs differ, null when they are equal or a column did "
    "not finish); system_prompt (null when none)."
)


def to_comparator(comparisons: Sequence[Comparison]) -> dict[str, Any]:
    """A set of comparisons as one LLM Comparator file: each comparison one example, its first
    two columns as A and B. Raises SaveFailed when there is nothing it can hold."""
    if not comparisons:
        raise SaveFailed("There is no comparison to export: run one first.")
    for number, comparison in enumerate(comparisons, start=1):
        if len(comparison.columns) < 2:
            raise SaveFailed(
                f"Comparison {number} has {len(comparison.columns)} column; LLM Comparator needs "
                "two columns: add a model and run it again."
            )
    notes = [_SCORE_NOTE, _FIELDS_NOTE]
    left_out = _third_columns_note(comparisons)
    if left_out:
        notes.append(left_out)
    count = f"{len(comparisons)} comparison{'' if len(comparisons) == 1 else 's'}"
    return {
        "metadata": {
            "source_path": f"Duet {__version__} compare export, {count}",
            "custom_fields_schema": [{"name": n, "type": t} for n, t in COMPARATOR_FIELDS],
            "duet_notes": notes,  # not read by LLM Comparator: its loader keeps and ignores it
        },
        "models": [{"name": name} for name in _comparator_names(comparisons)],
        "examples": [_comparator_example(c) for c in comparisons],
    }


def write_comparator_json(comparisons: Sequence[Comparison], path: Path) -> None:
    """Write `comparisons` to `path` as one LLM Comparator file, atomically. Raises SaveFailed."""
    data = to_comparator(comparisons)
    save_text(path, json.dumps(data, indent=2, ensure_ascii=False))


def _comparator_example(comparison: Comparison) -> dict[str, Any]:
    a, b = comparison.columns[0], comparison.columns[1]
    divergence = comparison.divergence
    values: dict[str, Any] = {
        "model": [a.model.id, b.model.id],
        "model_kind": [a.model.kind, b.model.kind],
        "mode": [a.mode, b.mode],
        "stop_reason": [_stop_reason(a), _stop_reason(b)],
        "generated_tokens": [_generated(a), _generated(b)],
        "first_divergence_char": divergence.char if divergence else None,
        "error": [a.error, b.error],
        "system_prompt": comparison.system or None,
    }
    return {
        "input_text": comparison.input,
        "tags": [f"A: {a.mode}", f"B: {b.mode}"],
        "output_text_a": a.text,
        "output_text_b": b.text,
        "score": None,  # no rater: see _SCORE_NOTE
        "individual_rater_scores": [],
        "rationale_list": [],
        "custom_fields": {name: values[name] for name, _ in COMPARATOR_FIELDS},
    }


def _stop_reason(column: Column) -> str | None:
    if column.done is not None:
        return column.done.reason.value
    return "error" if column.error else None  # None: the column never ran


def _generated(column: Column) -> int:
    """The engine's count when the column finished; the tokens that arrived when it failed."""
    return column.done.stats.generated_tokens if column.done else len(column.tokens)


def _comparator_names(comparisons: Sequence[Comparison]) -> list[str]:
    """Model A's and B's names: the column's model id when every comparison used the same one,
    else the letter and how many models (each example's model field names its own)."""
    names = []
    for index, letter in enumerate("AB"):
        ids = list(dict.fromkeys(c.columns[index].model.id for c in comparisons))
        names.append(ids[0] if len(ids) == 1 else f"{letter} ({len(ids)} models)")
    if names[0] == names[1]:  # one model in both columns (raw against chat): keep them apart
        names = [f"{names[0]} (A)", f"{names[1]} (B)"]
    return names


def _third_columns_note(comparisons: Sequence[Comparison]) -> str | None:
    extra = [
        f"comparison {number} ({', '.join(c.model.id for c in comparison.columns[2:])})"
        for number, comparison in enumerate(comparisons, start=1)
        if len(comparison.columns) > 2
    ]
    if not extra:
        return None
    return (
        "LLM Comparator compares two outputs, so the third column of "
        + "; ".join(extra)
        + " is left out here; Duet's own JSON export keeps every column."
    )


# Many samples --------------------------------------------------------------------------------


def samples_to_json(run: SampleRun) -> dict[str, Any]:
    """A many-samples run: the input, the sampling settings and seeds (the same for every
    column), and per column its model, prompt, statistics and every sample with its tokens (id,
    text, log-probability, entropy in nats). A value that is not a finite number is null."""
    return {
        "duet_version": __version__,
        "kind": "samples",
        "created": run.created,
        "input": run.plan.input,
        "system": run.plan.system,
        "sampling": run.plan.sampling.to_dict(),
        "samples_per_column": run.plan.count,
        "seeds": list(run.seeds),
        "cancelled": run.cancelled,
        "seconds": run.seconds,
        "columns": [_samples_column_json(c) for c in run.columns],
    }


def save_samples(run: SampleRun, path: Path) -> None:
    """A many-samples run as JSON at `path`, atomically. Raises SaveFailed."""
    data = samples_to_json(run)
    save_text(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False))


def _samples_column_json(column: SampleColumn) -> dict[str, Any]:
    model = identity(column.model, hash_file=True)
    stats = column.stats
    return {
        "model": asdict(model),
        "mode": column.mode,
        "template": column.prompt.template_name,
        "prompt": column.prompt.text,
        "stop": list(column.prompt.stop),
        "error": column.error,
        "stats": {
            "samples": stats.samples,  # cancelled samples are left out of the statistics
            "distinct_1": stats.distinct_1,
            "distinct_2": stats.distinct_2,
            "mean_tokens": stats.mean_tokens,
            "ended_by_itself": stats.ended_by_itself,
            "entropy_mean": [_finite(m) for m in stats.entropy.mean],
            "entropy_samples": list(stats.entropy.samples),
        },
        "samples": [_sample_json(s) for s in column.samples],
    }


def _sample_json(sample: Sample) -> dict[str, Any]:
    return {
        "seed": sample.seed,
        "output": sample.text,
        "stop_reason": sample.reason.value if sample.reason else None,
        "error": sample.error,
        "generated_tokens": sample.stats.generated_tokens if sample.stats else len(sample.tokens),
        "tokens": [
            {
                "id": t.token_id,
                "text": t.piece,
                "logprob": _finite(t.logprob),
                "entropy": _finite(t.entropy),
            }
            for t in sample.tokens
        ],
    }


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: an unreadable value is null."""
    return value if value is not None and math.isfinite(value) else None
