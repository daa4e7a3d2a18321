"""A comparison saved: Markdown to read, JSON with everything needed to run it again and get
the same tokens (models by repo, file and sha256, prompts, sampling, seeds). Every file is
written atomically."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import asdict
from pathlib import Path
from typing import Any

from desktop import __version__
from desktop.core.compare.run import Column, Comparison
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
    write_atomically(path, text)


def write_atomically(path: Path, text: str) -> None:
    """`text` as UTF-8 in a new file beside `path`, then moved over it in one step: a full disk
    or a crash mid-write leaves the file that was there whole, never half a file. A failure is a
    SaveFailed saying what to do, never a traceback (the CLI prints DuetErrors as they are)."""
    # A lone surrogate (half of a pasted emoji) has no UTF-8 form. Written as its escape \udXXX
    # it is still valid JSON that reads back as the same string, and Markdown shows where it was.
    data = text.encode("utf-8", errors="backslashreplace")
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        # 0o666 lets the umask set the mode, as for any other file the user saves.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with open(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())  # on disk before the rename makes it the file
        os.replace(partial, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # the folder may be gone or unwritable too
            partial.unlink(missing_ok=True)
        raise SaveFailed(
            f"Could not save {path}: {exc.strerror or exc}. Free some space, or choose another "
            "folder or name."
        ) from exc
