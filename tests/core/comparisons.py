"""Comparisons built by hand for the export tests: two or three columns of a server's models
(no file to hash), with their tokens, stop reasons and stats."""

from __future__ import annotations

from desktop.core.chat.prompts import Mode, RenderedPrompt
from desktop.core.chat.sampling import SamplingParams
from desktop.core.chat.tokens import TokenRecord
from desktop.core.compare.run import Column, Comparison
from desktop.core.engine import events as p
from desktop.core.models.catalog import ModelKind
from desktop.core.models.served import ServerModel


def model(name: str, kind: ModelKind) -> ServerModel:
    return ServerModel(f"remote:lab/{name}", name, server="lab", kind=kind, kind_reason="name")


def stats(tokens: int, seed: int = 7) -> p.Stats:
    return p.Stats(
        prompt_tokens=12,
        cached_tokens=0,
        generated_tokens=tokens,
        prompt_seconds=0.1,
        ttft_seconds=0.1,
        generation_seconds=1.0,
        seed=seed,
        context_used=12 + tokens,
        context_size=4096,
    )


def column(
    name: str,
    kind: ModelKind,
    mode: Mode,
    pieces: list[str],
    reason: p.StopReason | None = p.StopReason.EOS,
    error: str | None = None,
) -> Column:
    prompt = RenderedPrompt(text=f"<{mode}>", mode=mode, template_name=None)
    result = Column(model(name, kind), mode, prompt)
    result.tokens = [TokenRecord(i, piece, -0.5) for i, piece in enumerate(pieces)]
    result.text = "".join(pieces)
    if reason is not None:
        result.finish(p.Done(reason, result.text, stats(len(pieces))))
    else:
        result.finish(None, error)
    return result


def comparison(
    text: str = "Write a haiku about rain.",
    a: list[str] | None = None,
    b: list[str] | None = None,
    system: str | None = None,
    extra: Column | None = None,
) -> Comparison:
    columns = [
        column("base", "base", "raw", a if a is not None else ["Rain", " falls", " on", " roofs"]),
        column(
            "instruct",
            "instruct",
            "chat",
            b if b is not None else ["Rain", " taps", " the", " glass"],
            p.StopReason.MAX_TOKENS,
        ),
    ]
    if extra is not None:
        columns.append(extra)
    return Comparison(text, system, SamplingParams(temperature=0.0, seed=7), columns, created=0.0)
