"""What `duet pull` and the Models window download: a catalog id, a repository (with its best
default quantization), `REPO:QUANT` or `REPO:FILE`, split files included."""

from __future__ import annotations

import re
from pathlib import Path

from desktop.core.errors import DuetError, HubNotFound
from desktop.core.hub.api import HubFile, list_files
from desktop.core.hub.download import CancelToken, Downloaded, ProgressCallback, download
from desktop.core.hub.pending import PullTarget
from desktop.core.models.catalog import Catalog

# The usual laptop sweet spot first, then smaller, then larger.
DEFAULT_QUANTS = ("Q4_K_M", "Q4_K_S", "Q4_0", "IQ4_XS", "Q5_K_M", "Q5_K_S", "Q6_K", "Q8_0")
_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def resolve(spec: str, catalog: Catalog) -> PullTarget:
    spec = spec.strip()
    if entry := catalog.get(spec):
        return PullTarget(entry.repo_id, (entry.filename,), entry.size, entry.quant)
    repo_id, _, choice = spec.partition(":")
    if not _REPO_ID.match(repo_id):
        raise DuetError(
            f"'{spec}' is neither a catalog id nor a Hub repository (owner/name). "
            "Examples: duet pull qwen2.5-0.5b · duet pull owner/Model-GGUF:Q4_K_M"
        )
    files = list_files(repo_id).files
    if not files:
        raise HubNotFound(f"{repo_id} has no GGUF files: Duet runs GGUF models only.")
    return _target(repo_id, choose(files, choice, repo_id))


def choose(files: tuple[HubFile, ...], choice: str, repo_id: str) -> HubFile:
    quants = ", ".join(sorted({f.quant for f in files}))
    if choice.lower().endswith(".gguf"):
        for file in files:
            if choice in file.parts:
                return file
        raise HubNotFound(f"{repo_id} has no file {choice}. Its quantizations: {quants}.")
    if choice:
        matching = [f for f in files if f.quant == choice.upper()]
        if not matching:
            raise HubNotFound(
                f"{repo_id} has no {choice.upper()} file. Its quantizations: {quants}."
            )
        if len(matching) > 1:
            names = ", ".join(f.filename for f in matching)
            raise DuetError(
                f"{repo_id} has several {choice.upper()} files ({names}): name one with REPO:FILE."
            )
        return matching[0]
    for quant in DEFAULT_QUANTS:
        for file in files:
            if file.quant == quant:
                return file
    return min(files, key=lambda f: f.size)


def _target(repo_id: str, file: HubFile) -> PullTarget:
    return PullTarget(repo_id, file.parts, file.size, file.quant)


def pull(
    target: PullTarget,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    *,
    allow_unverified: bool = False,
) -> tuple[Path, int]:
    """Download every part; returns the path llama.cpp opens (the first part) and bytes fetched.
    A part the Hub publishes no sha256 for is refused unless `allow_unverified`."""
    results: list[Downloaded] = [
        download(
            target.repo_id,
            part,
            progress=progress,
            cancel=cancel,
            allow_unverified=allow_unverified,
        )
        for part in target.parts
    ]
    return results[0].path, sum(r.fetched for r in results)
