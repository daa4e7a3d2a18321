"""The curated catalog (models.toml) as frozen dataclasses, validated strictly.

A catalog mistake is a packaging bug, so it is an error, never a silent skip: unknown keys,
missing fields, wrong types and duplicate ids all raise CatalogError naming file, line and key.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from desktop.core.errors import CatalogError

ModelKind = Literal["base", "instruct"]
KINDS: tuple[ModelKind, ...] = ("base", "instruct")

_REQUIRED: dict[str, type] = {
    "id": str,
    "kind": str,
    "pair": str,
    "repo_id": str,
    "filename": str,
    "quant": str,
    "size": int,
    "license": str,
    "gated": bool,
}
_OPTIONAL: dict[str, type] = {"sha256": str, "starter_package": str, "note": str}
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class CatalogModel:
    id: str
    kind: ModelKind
    pair: str
    repo_id: str
    filename: str
    quant: str
    size: int
    license: str
    gated: bool
    sha256: str | None = None
    starter_package: str | None = None
    note: str = ""

    @property
    def is_starter(self) -> bool:
        return self.starter_package is not None


@dataclass(frozen=True)
class CatalogPair:
    id: str
    base: CatalogModel
    instruct: CatalogModel

    @property
    def is_starter(self) -> bool:
        return self.base.is_starter and self.instruct.is_starter


@dataclass(frozen=True)
class Catalog:
    models: tuple[CatalogModel, ...]
    pairs: tuple[CatalogPair, ...]

    def get(self, model_id: str) -> CatalogModel | None:
        return next((m for m in self.models if m.id == model_id), None)

    def starter_pair(self) -> CatalogPair:
        pair = next((p for p in self.pairs if p.is_starter), None)
        if pair is None:
            raise CatalogError("The catalog has no starter pair (models with starter_package).")
        return pair


def default_catalog_path() -> Path:
    """models.toml beside the source tree, or where the wheel installed it."""
    here = Path(__file__).resolve()
    candidates = [
        here.parents[3] / "models.toml",  # a source checkout or editable install
        Path(sys.prefix) / "share" / "duet" / "models.toml",  # a wheel's data-files
        Path(getattr(sys, "_MEIPASS", here.parents[3])) / "models.toml",  # a frozen bundle
    ]
    return next((c for c in candidates if c.is_file()), candidates[0])


@cache
def load_default_catalog() -> Catalog:
    return load_catalog(default_catalog_path())


def load_catalog(path: Path) -> Catalog:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog: {exc.strerror or exc}") from None
    return parse_catalog(text, path)


def parse_catalog(text: str, path: Path) -> Catalog:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from None
    locate = _Locator(text, path)
    unknown_top = sorted(set(data) - {"model"})
    if unknown_top:
        raise CatalogError(locate.top(unknown_top[0], "unknown top-level key"))
    entries = data.get("model", [])
    if not isinstance(entries, list):
        raise CatalogError(f"{path}: 'model' must be an array of tables ([[model]])")

    models: list[CatalogModel] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        model = _parse_entry(entry, index, locate)
        if model.id in seen:
            raise CatalogError(
                locate.key(
                    index, "id", f"duplicate id '{model.id}' (first at entry {seen[model.id] + 1})"
                )
            )
        seen[model.id] = index
        models.append(model)
    return Catalog(models=tuple(models), pairs=_pairs(models, locate))


def _parse_entry(entry: object, index: int, locate: _Locator) -> CatalogModel:
    if not isinstance(entry, Mapping):
        raise CatalogError(locate.entry(index, "each [[model]] must be a table"))
    for key in entry:
        if key not in _REQUIRED and key not in _OPTIONAL:
            raise CatalogError(locate.key(index, key, f"unknown key '{key}'"))
    for key, kind in {**_REQUIRED, **_OPTIONAL}.items():
        if key not in entry:
            if key in _REQUIRED:
                raise CatalogError(locate.entry(index, f"missing required key '{key}'"))
            continue
        value = entry[key]
        # bool is a subclass of int: a size of `true` must not pass as 1.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CatalogError(
                locate.key(
                    index, key, f"'{key}' must be {kind.__name__}, not {type(value).__name__}"
                )
            )
    if entry["kind"] not in KINDS:
        raise CatalogError(locate.key(index, "kind", '\'kind\' must be "base" or "instruct"'))
    if not _ID.match(entry["id"]):
        raise CatalogError(locate.key(index, "id", "'id' must be lowercase letters, digits, . _ -"))
    if entry["size"] <= 0:
        raise CatalogError(locate.key(index, "size", "'size' must be a positive number of bytes"))
    if "sha256" in entry and not _SHA256.match(entry["sha256"]):
        raise CatalogError(locate.key(index, "sha256", "'sha256' must be 64 lowercase hex digits"))
    filename = entry["filename"]
    if filename.startswith("/") or ".." in filename.split("/") or not filename.endswith(".gguf"):
        raise CatalogError(
            locate.key(index, "filename", "'filename' must be a relative path ending in .gguf")
        )
    return CatalogModel(**{k: entry[k] for k in entry})


def _pairs(models: list[CatalogModel], locate: _Locator) -> tuple[CatalogPair, ...]:
    by_pair: dict[str, dict[str, CatalogModel]] = {}
    for index, model in enumerate(models):
        sides = by_pair.setdefault(model.pair, {})
        if model.kind in sides:
            raise CatalogError(
                locate.key(index, "pair", f"pair '{model.pair}' already has a {model.kind} model")
            )
        sides[model.kind] = model
    pairs = []
    for pair_id, sides in by_pair.items():
        if set(sides) != set(KINDS):
            index = models.index(next(iter(sides.values())))
            missing = "instruct" if "base" in sides else "base"
            raise CatalogError(
                locate.key(index, "pair", f"pair '{pair_id}' has no {missing} model")
            )
        pairs.append(CatalogPair(id=pair_id, base=sides["base"], instruct=sides["instruct"]))
    return tuple(pairs)


class _Locator:
    """Line numbers for error messages. tomllib gives none, so find the n-th [[model]] header
    and the key's line below it in the source text."""

    def __init__(self, text: str, path: Path) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.headers = [i for i, line in enumerate(self.lines) if line.strip() == "[[model]]"]

    def entry(self, index: int, message: str) -> str:
        line = self.headers[index] + 1 if index < len(self.headers) else 0
        return f"{self.path}:{line}: [[model]] #{index + 1}: {message}"

    def key(self, index: int, key: str, message: str) -> str:
        start = self.headers[index] if index < len(self.headers) else 0
        end = self.headers[index + 1] if index + 1 < len(self.headers) else len(self.lines)
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        line = next((i + 1 for i in range(start, end) if pattern.match(self.lines[i])), start + 1)
        return f"{self.path}:{line}: [[model]] #{index + 1}, key '{key}': {message}"

    def top(self, key: str, message: str) -> str:
        pattern = re.compile(rf"^\s*\[*\s*{re.escape(key)}\b")
        line = next((i + 1 for i, text in enumerate(self.lines) if pattern.match(text)), 1)
        return f"{self.path}:{line}: key '{key}': {message}"
