"""A comparison saved: Markdown to read, JSON with everything needed to run it again and get
the same tokens (models by repo, file and sha256, prompts, sampling, seeds)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from desktop import __version__
from desktop.core.compare.run import Column, Comparison
from desktop.core.compare.shift import shift_json, shift_lines
from desktop.core.engine.factory import identity


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
    if path.suffix.lower() == ".json":
        path.write_text(
            json.dumps(to_json(comparison), indent=2, ensure_ascii=False), encoding="utf-8"
        )
    else:
        path.write_text(to_markdown(comparison), encoding="utf-8")
