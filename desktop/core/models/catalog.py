"""The curated catalog (models.toml) as frozen dataclasses, validated strictly: its models,
their base/instruct pairs and their ladders of training stages.

A catalog mistake is a packaging bug, so it is an error, never a silent skip: unknown keys,
missing fields, wrong types, duplicate ids, a ladder with a gap or a pair without two ends all
raise CatalogError naming file, line and key.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Mapping, Sequence
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
    "repo_id": str,
    "filename": str,
    "quant": str,
    "size": int,
    "license": str,
    "gated": bool,
}
_OPTIONAL: dict[str, type] = {
    "family": str,
    "pair": str,
    "ladder": str,
    "stage": int,
    "stage_name": str,
    "sha256": str,
    "starter_package": str,
    "note": str,
}
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class CatalogModel:
    id: str
    kind: ModelKind
    repo_id: str
    filename: str
    quant: str
    size: int
    license: str
    gated: bool
    family: str = ""
    pair: str | None = None
    ladder: str | None = None
    stage: int | None = None
    stage_name: str | None = None
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

    @property
    def members(self) -> tuple[CatalogModel, CatalogModel]:
        return (self.base, self.instruct)

    @property
    def family(self) -> str:
        return _family_of(self.members, self.id)

    @property
    def size(self) -> int:
        return self.base.size + self.instruct.size


@dataclass(frozen=True)
class CatalogLadder:
    """One model's training stages in order, from a base model to an instruct one."""

    id: str
    stages: tuple[CatalogModel, ...]

    @property
    def members(self) -> tuple[CatalogModel, ...]:
        return self.stages

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(m.stage_name or "" for m in self.stages)

    @property
    def family(self) -> str:
        return _family_of(self.stages, self.id)

    @property
    def size(self) -> int:
        return sum(m.size for m in self.stages)


@dataclass(frozen=True)
class Catalog:
    models: tuple[CatalogModel, ...]
    pairs: tuple[CatalogPair, ...]
    ladders: tuple[CatalogLadder, ...] = ()

    def get(self, model_id: str) -> CatalogModel | None:
        return next((m for m in self.models if m.id == model_id), None)

    def members(self, some_id: str) -> tuple[CatalogModel, ...] | None:
        """What an id names: one model, both sides of a pair, or every stage of a ladder (the
        catalog keeps the three kinds of id apart, so at most one matches)."""
        if model := self.get(some_id):
            return (model,)
        pair = next((p for p in self.pairs if p.id == some_id), None)
        if pair is not None:
            return pair.members
        ladder = next((ladder for ladder in self.ladders if ladder.id == some_id), None)
        return ladder.members if ladder is not None else None

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
    _check_files(models, locate)
    _check_namespaces(models, locate)
    ladders = _ladders(models, locate)
    pairs = _pairs(models, locate)
    _check_pairs_along_ladders(pairs, models, locate)
    return Catalog(models=tuple(models), pairs=pairs, ladders=ladders)


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
    _check_membership(entry, index, locate)
    return CatalogModel(**{k: entry[k] for k in entry})


def _check_membership(entry: Mapping[str, object], index: int, locate: _Locator) -> None:
    """A model is in a pair, a ladder or both; a ladder stage says where it stands."""
    staging = [key for key in ("stage", "stage_name") if key in entry]
    if "ladder" in entry and len(staging) < 2:
        raise CatalogError(
            locate.key(
                index, "ladder", "'ladder' needs 'stage' and 'stage_name' (1, 2 ...; \"SFT\")"
            )
        )
    if staging and "ladder" not in entry:
        raise CatalogError(
            locate.key(
                index, staging[0], "'stage' and 'stage_name' need 'ladder' (the ladder's id)"
            )
        )
    if "pair" in entry and not _ID.match(str(entry["pair"])):
        raise CatalogError(
            locate.key(index, "pair", "'pair' must be lowercase letters, digits, . _ -")
        )
    if "ladder" in entry:
        stage = entry["stage"]
        if isinstance(stage, int) and stage < 1:
            raise CatalogError(locate.key(index, "stage", "'stage' must be 1 or more"))
        if not str(entry["stage_name"]).strip():
            raise CatalogError(locate.key(index, "stage_name", "'stage_name' must not be empty"))
        if not _ID.match(str(entry["ladder"])):
            raise CatalogError(
                locate.key(index, "ladder", "'ladder' must be lowercase letters, digits, . _ -")
            )
    if "pair" not in entry and "ladder" not in entry:
        raise CatalogError(
            locate.key(
                index,
                "id",
                f"'{entry['id']}' belongs to no pair and no ladder: give it 'pair' or 'ladder'",
            )
        )


def _check_files(models: list[CatalogModel], locate: _Locator) -> None:
    """Two entries for one file would make the library's label for it a coin toss."""
    first: dict[tuple[str, str], CatalogModel] = {}
    for index, model in enumerate(models):
        key = (model.repo_id, model.filename)
        if key in first:
            raise CatalogError(
                locate.key(
                    index, "filename", f"'{model.id}' names the same file as '{first[key].id}'"
                )
            )
        first[key] = model


def _check_namespaces(models: list[CatalogModel], locate: _Locator) -> None:
    """Model, pair and ladder ids never collide, so `duet pull ID` means one thing."""
    model_ids = {m.id for m in models}
    pair_ids = {m.pair for m in models if m.pair is not None}
    for index, model in enumerate(models):
        clashes = (
            (
                "pair",
                model.pair,
                model_ids,
                "pair id '{}' is also a model id: give the pair its own id",
            ),
            (
                "ladder",
                model.ladder,
                model_ids,
                "ladder id '{}' is also a model id: give the ladder its own id",
            ),
            (
                "ladder",
                model.ladder,
                pair_ids,
                "'{}' is both a pair id and a ladder id: give each its own id",
            ),
        )
        for key, group_id, taken, message in clashes:
            if group_id is not None and group_id in taken:
                raise CatalogError(locate.key(index, key, message.format(group_id)))


def _ladders(models: list[CatalogModel], locate: _Locator) -> tuple[CatalogLadder, ...]:
    by_ladder: dict[str, list[tuple[int, CatalogModel]]] = {}
    for index, model in enumerate(models):
        if model.ladder is not None:
            by_ladder.setdefault(model.ladder, []).append((index, model))
    ladders = []
    for ladder_id, rungs in by_ladder.items():
        rungs.sort(key=lambda rung: (rung[1].stage or 0, rung[0]))
        first_index = rungs[0][0]
        if len(rungs) < 2:
            raise CatalogError(
                locate.key(
                    first_index,
                    "ladder",
                    f"ladder '{ladder_id}' has only one stage: a ladder needs two or more",
                )
            )
        for (_, before), (index, after) in itertools.pairwise(rungs):
            if before.stage == after.stage:
                raise CatalogError(
                    locate.key(
                        index,
                        "stage",
                        f"ladder '{ladder_id}' has two stage {after.stage} models "
                        f"('{before.id}' and '{after.id}')",
                    )
                )
        numbers = [model.stage for _, model in rungs]
        expected = list(range(1, len(rungs) + 1))
        if numbers != expected:
            missing = next(n for n, got in zip(expected, numbers, strict=True) if n != got)
            listed = ", ".join(str(n) for n in numbers)
            raise CatalogError(
                locate.key(
                    first_index,
                    "stage",
                    f"ladder '{ladder_id}' has no stage {missing} (its stages are {listed}): "
                    "number them 1, 2, 3 ... in training order",
                )
            )
        low_index, low = rungs[0]
        high_index, high = rungs[-1]
        if low.kind != "base":
            raise CatalogError(
                locate.key(
                    low_index,
                    "kind",
                    f"ladder '{ladder_id}' must start from a base model ('{low.id}' is instruct)",
                )
            )
        if high.kind != "instruct":
            raise CatalogError(
                locate.key(
                    high_index,
                    "kind",
                    f"ladder '{ladder_id}' must end with an instruct model ('{high.id}' is base)",
                )
            )
        ladders.append(CatalogLadder(id=ladder_id, stages=tuple(m for _, m in rungs)))
    return tuple(ladders)


def _check_pairs_along_ladders(
    pairs: tuple[CatalogPair, ...], models: list[CatalogModel], locate: _Locator
) -> None:
    """A pair whose two ends stand on one ladder goes up it: base below instruct."""
    for pair in pairs:
        base, instruct = pair.base, pair.instruct
        if base.ladder is None or base.ladder != instruct.ladder:
            continue
        if (base.stage or 0) > (instruct.stage or 0):
            raise CatalogError(
                locate.key(
                    models.index(base),
                    "pair",
                    f"pair '{pair.id}' runs backwards along ladder '{base.ladder}': its base "
                    f"'{base.id}' is stage {base.stage}, its instruct '{instruct.id}' stage "
                    f"{instruct.stage}",
                )
            )


def _family_of(members: tuple[CatalogModel, ...], fallback: str) -> str:
    names = list(dict.fromkeys(m.family for m in members if m.family))
    return " / ".join(names) if names else fallback


def _pairs(models: list[CatalogModel], locate: _Locator) -> tuple[CatalogPair, ...]:
    by_pair: dict[str, dict[str, CatalogModel]] = {}
    for index, model in enumerate(models):
        if model.pair is None:
            continue
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


def markdown_table(catalog: Catalog) -> str:
    """The README's catalog table: one row per pair and per ladder, with the id `duet pull`
    takes, the stages in order and each stage's size. The README is checked against it."""
    rows = ["| Family | `duet pull` id | Stages | Sizes |", "| --- | --- | --- | --- |"]
    for pair in catalog.pairs:
        family = "Offline starter pair" if pair.is_starter else pair.family
        rows.append(_row(family, pair.id, ("base", "instruct"), pair.members))
    for ladder in catalog.ladders:
        rows.append(_row(ladder.family, ladder.id, ladder.stage_names, ladder.stages))
    return "\n".join(rows) + "\n"


def _row(family: str, some_id: str, stages: Sequence[str], models: Sequence[CatalogModel]) -> str:
    sizes = " + ".join(_size(m.size) for m in models)
    return f"| {family} | `{some_id}` | {' → '.join(stages)} | {sizes} |"


def _size(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:,.0f} MB"


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


if __name__ == "__main__":  # python -m desktop.core.models.catalog: the README's table
    print(markdown_table(load_default_catalog()), end="")
