"""A model an OpenAI-compatible server serves: what the picker lists for it. Duet has no file,
so no metadata, template or size: only the names and a kind guessed from the name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from desktop.core.models.catalog import ModelKind


@dataclass(frozen=True)
class ServerModel:
    id: str  # "remote:<server>/<name>", unique beside installed models' ids
    name: str  # the model's id on the server, as its /v1/models lists it
    server: str  # the configured server's name
    kind: ModelKind
    kind_reason: str  # "name": a server shows no template to tell from
    # What an installed model has and a server's has not, so code that lists both reads them.
    source: Literal["remote"] = "remote"
    catalog: None = None
    repo_id: None = None
