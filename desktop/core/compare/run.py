"""One prompt through two or three models at once, each in its own engine worker, and where
their outputs part ways: the first divergence, and how surprised one model is by the other's
text (teacher-forced log-probabilities). Exported as Markdown to read and JSON to reproduce."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from desktop import __version__
from desktop.core.chat.prompts import (
    Message,
    Mode,
    RenderedPrompt,
    TokenizerSpec,
    render_chat,
    render_raw,
    template_of,
)
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine import events as p
from desktop.core.engine.local.client import EngineClient, error_from
from desktop.core.engine.local.config import EngineConfig, physical_cores
from desktop.core.errors import DuetError, UnexpectedError
from desktop.core.models.library import InstalledModel

TOP_K = 5  # alternatives kept per token: enough for the hover chart, cheap to compute


def render_input(
    model: InstalledModel, mode: Mode, text: str, system: str | None = None
) -> RenderedPrompt:
    """The prompt a single user input becomes for this model in this mode."""
    spec = TokenizerSpec.from_info(model.info)
    if mode == "raw":
        return render_raw(text, spec)
    return render_chat([Message("user", text)], spec, template_of(model.info), system)


def compare_config(n_columns: int, n_ctx: int = 4096, cores: int | None = None) -> EngineConfig:
    """Threads per worker when several models run at once: the physical cores shared out, one
    each at least. Spinning ggml threads must not outnumber cores: measured on 2 cores, two
    workers with one thread each run together as fast as one after the other (bench/compare.py),
    while two threads each collapse."""
    share = max(1, (cores or physical_cores()) // max(1, n_columns))
    return EngineConfig(n_ctx=n_ctx, n_threads=share, n_threads_batch=share)


@dataclass(frozen=True)
class TokenRecord:
    token_id: int
    piece: str
    logprob: float | None
    top: tuple[p.Alternative, ...] = ()

    @property
    def probability(self) -> float | None:
        return math.exp(self.logprob) if self.logprob is not None else None


@dataclass(frozen=True)
class Divergence:
    char: int  # offset in both texts where they first differ
    token_a: int  # index of the token holding that character in each column
    token_b: int


def first_divergence(a: Sequence[str], b: Sequence[str]) -> Divergence | None:
    """Where two token streams first differ, by text, so that models with different tokenizers
    compare too. None when the texts are equal."""
    text_a, text_b = "".join(a), "".join(b)
    if text_a == text_b:
        return None
    char = next(
        (i for i, (x, y) in enumerate(zip(text_a, text_b, strict=False)) if x != y),
        min(len(text_a), len(text_b)),
    )
    return Divergence(char, _token_at(a, char), _token_at(b, char))


def _token_at(pieces: Sequence[str], char: int) -> int:
    end = 0
    for index, piece in enumerate(pieces):
        end += len(piece)
        if char < end:
            return index
    return len(pieces)  # past the end: this column stopped first


@dataclass
class Column:
    """One side of a comparison: its model, mode and prompt, and what came back."""

    model: InstalledModel
    mode: Mode
    prompt: RenderedPrompt
    tokens: list[TokenRecord] = field(default_factory=list)
    text: str = ""
    done: p.Done | None = None
    error: str | None = None
    surprise: list[TokenRecord] | None = None  # this column's text scored by another model
    surprise_model: str | None = None

    @property
    def pieces(self) -> list[str]:
        return [t.piece for t in self.tokens]


@dataclass
class Comparison:
    input: str
    system: str | None
    sampling: SamplingParams
    columns: list[Column]
    created: float = field(default_factory=time.time)

    @property
    def divergence(self) -> Divergence | None:
        if len(self.columns) < 2 or not all(c.done for c in self.columns[:2]):
            return None
        return first_divergence(self.columns[0].pieces, self.columns[1].pieces)


def run_columns(
    engines: Sequence[EngineClient],
    comparison: Comparison,
    on_event: Callable[[int, p.Event], None] | None = None,
) -> Comparison:
    """Generate every column at once, each on its own thread and engine process."""

    def one(index: int) -> None:
        column, engine = comparison.columns[index], engines[index]
        try:
            events = engine.generate(
                column.prompt.text,
                comparison.sampling,
                column.prompt.stop,
                top_k_probs=TOP_K,
                logprobs=True,
            )
            for event in events:
                if isinstance(event, p.Token):
                    if event.token_id >= 0:
                        column.tokens.append(
                            TokenRecord(event.token_id, event.piece, event.logprob, event.top)
                        )
                    column.text += event.text
                elif isinstance(event, p.Done):
                    column.done = event
                    column.text = event.text
                elif isinstance(event, p.Failed):
                    column.error = str(error_from(event))
                elif isinstance(event, p.Crashed):
                    column.error = event.message
                if on_event is not None:
                    on_event(index, event)
        except Exception as exc:  # a bug in one column must not leave the comparison waiting
            error = exc if isinstance(exc, DuetError) else UnexpectedError.wrapping(exc)
            column.error = str(error)
            if on_event is not None:
                on_event(index, p.Failed(type(error).__name__, str(error)))

    threads = [
        threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(comparison.columns))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return comparison


def score_with(engine: EngineClient, column: Column, scorer: Column) -> list[TokenRecord]:
    """`column`'s output as `scorer`'s model sees it: the log-probability it gives each token,
    after its own rendering of the same input. High surprise is where the models disagree."""
    scored = engine.score(scorer.prompt.text, continuation=column.text, top_k=TOP_K)
    column.surprise = [TokenRecord(t.token_id, t.piece, t.logprob, t.top) for t in scored.tokens]
    column.surprise_model = scorer.model.id
    return column.surprise


# Export -------------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


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
    model = column.model
    sha = (
        None  # a server's weights are not ours to hash; its name and model id identify them
        if model.is_remote
        else model.catalog.sha256
        if model.catalog is not None and model.catalog.sha256
        else file_sha256(model.path)
    )
    stats = column.done.stats if column.done else None
    return {
        "model": {
            "id": model.id,
            "kind": model.kind,
            "repo_id": model.repo_id,
            "file": model.path.name,
            "sha256": sha,
            "quantization": model.info.quantization,
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
