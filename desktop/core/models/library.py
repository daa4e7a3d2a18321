"""What is installed: the starter pair, files the user registered, and GGUFs already in the
Hugging Face cache, each labelled base or instruct.

Labels come from the catalog first; otherwise from the file itself: explicit words in its name
("instruct", "chat", "-it", "base"), then whether it carries a chat template. The name goes
before the template because many base GGUFs (Qwen2.5's, for one) ship their family's template.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from desktop.core.atomic_file import locked, write_atomically
from desktop.core.errors import DuetError, ModelLoadError, ModelNotFound
from desktop.core.models.catalog import Catalog, CatalogModel, ModelKind, load_default_catalog
from desktop.core.models.gguf_info import (
    SPLIT_PART,
    ModelInfo,
    is_later_split_part,
    read_model_info,
)
from desktop.core.models.starter import starter_files
from desktop.core.paths import AppDirs, app_dirs, hf_hub_cache

Source = Literal["starter", "registered", "hf-cache", "path"]

_INSTRUCT_WORDS = re.compile(r"(instruct|chat|(^|[-_. ])it($|[-_. ])|sft|dpo|rlhf)", re.I)
_BASE_WORDS = re.compile(r"(^|[-_. ])(base|pretrained|pt)($|[-_. ])", re.I)
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstalledModel:
    id: str
    path: Path
    kind: ModelKind
    kind_reason: (
        str  # why it is labelled so: "catalog", "name", "chat template", "no chat template"
    )
    source: Source
    info: ModelInfo
    catalog: CatalogModel | None = None
    repo_id: str | None = None


@dataclass(frozen=True)
class Problem:
    """A model file that was found but cannot be used, with the reason."""

    path: Path
    message: str


def label_kind(info: ModelInfo, filename: str) -> tuple[ModelKind, str]:
    names = " ".join([filename, info.name, info.finetune, *info.tags])
    if _INSTRUCT_WORDS.search(names):
        return "instruct", "name"
    if _BASE_WORDS.search(names):
        return "base", "name"
    if info.has_chat_template:
        return "instruct", "chat template"
    return "base", "no chat template"


def kind_from_name(name: str) -> tuple[ModelKind, str]:
    """A kind from a name alone (a server's model: there is no file to read a template from)."""
    if _INSTRUCT_WORDS.search(name):
        return "instruct", "name"
    if _BASE_WORDS.search(name):
        return "base", "name"
    return "base", "no chat template"


class Library:
    def __init__(self, dirs: AppDirs | None = None, catalog: Catalog | None = None) -> None:
        self.dirs = dirs or app_dirs()
        self.catalog = catalog or load_default_catalog()
        self.problems: list[Problem] = []

    def models(self) -> list[InstalledModel]:
        """Starter pair first, then registered files, then the Hugging Face cache."""
        self.problems = []
        found: list[InstalledModel] = []
        seen: set[Path] = set()
        for starter in starter_files():
            if starter.path is not None:
                self._add(
                    found, seen, starter.path, "starter", starter.model, starter.model.repo_id
                )
        for path in self.registered_paths():
            self._add(found, seen, path, "registered", None, None)
        for repo_id, path in _hf_cache_ggufs(hf_hub_cache()):
            entry = next(
                (
                    m
                    for m in self.catalog.models
                    if m.repo_id == repo_id and m.filename == path.name
                ),
                None,
            )
            self._add(found, seen, path, "hf-cache", entry, repo_id)
        return found

    def resolve(self, name: str) -> InstalledModel:
        """A model by id, by unique part of its id or file name, or by a path to a .gguf."""
        candidate = Path(name).expanduser()
        if name.endswith(".gguf") or os.sep in name:
            if candidate.is_file():
                return self.describe(candidate, "path")
            if name.endswith(".gguf") and os.sep in name:
                raise ModelNotFound(f"{name} does not exist.")
        models = self.models()
        lowered = name.lower()
        for model in models:
            if model.id.lower() == lowered:
                return model
        partial = [m for m in models if lowered in m.id.lower() or lowered in m.path.name.lower()]
        if len(partial) == 1:
            return partial[0]
        installed = ", ".join(m.id for m in models) or "none"
        if partial:
            options = ", ".join(m.id for m in partial)
            raise ModelNotFound(f"'{name}' matches several models: {options}. Name one of them.")
        raise ModelNotFound(
            f"No installed model matches '{name}'. Installed: {installed}. "
            "`duet models` lists them; a path to a .gguf file works too."
        )

    def describe(self, path: Path, source: Source = "path") -> InstalledModel:
        """An InstalledModel for any GGUF path (raises ModelLoadError for a bad file)."""
        info = model_info(path)
        kind, reason = label_kind(info, path.name)
        return InstalledModel(
            id=_slug(path.stem), path=path, kind=kind, kind_reason=reason, source=source, info=info
        )

    # Registered local files ---------------------------------------------------------------

    def remove(self, model: InstalledModel) -> str:
        """Remove a model from Duet; says what happened. Downloaded files are deleted, files the
        user registered are only forgotten (they belong to the user), starter files stay with
        their package."""
        if model.source == "starter":
            raise DuetError(
                f"{model.id} is part of the offline starter pair, installed as a Python package; "
                "it cannot be deleted from here."
            )
        if model.source == "registered":
            self.unregister(model.path)
            return f"Removed {model.id} from Duet's list; the file stays at {model.path}."
        if model.source == "hf-cache":
            freed, kept = _delete_from_hf_cache(model.path)
            if kept:
                return (
                    f"Removed {model.id} from the Hugging Face cache; the file it linked to is "
                    f"outside the cache and stays: {', '.join(str(p) for p in kept)}."
                )
            return f"Deleted {model.id} ({freed / 1e6:,.0f} MB freed)."
        raise DuetError(f"{model.path} is not installed in Duet, so there is nothing to remove.")

    def registered_paths(self) -> list[Path]:
        try:
            data = json.loads(self.dirs.registry.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            self.problems.append(Problem(self.dirs.registry, f"unreadable list of models: {exc}"))
            return []
        except RecursionError:
            self.problems.append(
                Problem(self.dirs.registry, "unreadable list of models: nested too deeply")
            )
            return []
        return [Path(p) for p in data if isinstance(p, str)] if isinstance(data, list) else []

    def register(self, path: Path) -> InstalledModel:
        # Absolute, links kept: a Hugging Face cache's snapshot link keeps the file's name,
        # where its target is a blob named by its hash.
        path = Path(os.path.abspath(path.expanduser()))
        model = self.describe(path, "registered")  # refuses a bad file before listing it
        self._update_registry(lambda paths: paths if path in paths else [*paths, path])
        return model

    def unregister(self, path: Path) -> None:
        path = Path(os.path.abspath(path.expanduser()))
        self._update_registry(lambda paths: [p for p in paths if p != path])

    def _update_registry(self, change: Callable[[list[Path]], list[Path]]) -> None:
        """Read, change and write the list under a file lock: the window registers from worker
        threads and the CLI may run beside it, and no registration may be lost."""
        registry = self.dirs.registry
        try:
            with locked(registry):
                paths = change(self.registered_paths())
                write_atomically(registry, json.dumps([str(p) for p in paths], indent=2))
        except OSError as exc:
            raise DuetError(
                f"Cannot update the list of models in {registry}: {exc.strerror or exc}."
            ) from None

    # --------------------------------------------------------------------------------------

    def _add(
        self,
        found: list[InstalledModel],
        seen: set[Path],
        path: Path,
        source: Source,
        entry: CatalogModel | None,
        repo_id: str | None,
    ) -> None:
        try:
            real = path.resolve()
        except (OSError, RuntimeError) as exc:  # a loop of links: RuntimeError before 3.13
            looped = isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP
            why = (
                "a link that leads back to itself, not to a file"
                if looped
                else f"unreadable ({exc})"
            )
            self.problems.append(Problem(path, f"{path} is {why}."))
            return
        if real in seen:
            return
        seen.add(real)
        try:
            info = model_info(path)
        except ModelLoadError as exc:
            self.problems.append(Problem(path, str(exc)))
            return
        except Exception as exc:  # a bug reading one file must not hide every other model
            _log.error("Reading %s failed", path, exc_info=exc)
            self.problems.append(
                Problem(path, f"{path} could not be read ({type(exc).__name__}: {exc}).")
            )
            return
        if entry is not None:
            kind, reason, model_id = entry.kind, "catalog", entry.id
        else:
            kind, reason = label_kind(info, path.name)
            model_id = _slug(path.stem)
        taken = {m.id for m in found}
        unique, n = model_id, 2
        while unique in taken:
            unique, n = f"{model_id}-{n}", n + 1
        found.append(
            InstalledModel(
                id=unique,
                path=path,
                kind=kind,
                kind_reason=reason,
                source=source,
                info=info,
                catalog=entry,
                repo_id=repo_id,
            )
        )


def model_info(path: Path) -> ModelInfo:
    """A file's header, read once per version of the file: the window lists models from its
    scan thread and its Models window, and each listing would otherwise read every file again."""
    try:
        stat = path.stat()
    except OSError:
        return read_model_info(path)  # says what is wrong with the path
    return _read_once(str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)


@lru_cache(maxsize=64)
def _read_once(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> ModelInfo:
    """read_model_info, cached by what changes when a file is written or replaced."""
    return read_model_info(Path(path))


def _hf_cache_ggufs(cache: Path) -> list[tuple[str, Path]]:
    """(repo_id, path) for every .gguf in the hub cache's snapshots. Of a split model only
    the first part is listed: llama.cpp opens the others through it."""
    results: list[tuple[str, Path]] = []
    if not cache.is_dir():
        return results
    for repo_dir in sorted(cache.glob("models--*")):
        repo_id = repo_dir.name.removeprefix("models--").replace("--", "/", 1)
        for path in sorted((repo_dir / "snapshots").glob("*/**/*.gguf")):
            if path.is_file() and not is_later_split_part(path.name):
                results.append((repo_id, path))
    return results


def _delete_from_hf_cache(path: Path) -> tuple[int, list[Path]]:
    """Delete a snapshot file and its blob (and the other parts of a split model): (bytes
    freed, the files kept). Only files inside the model's own cache folder are deleted: a
    snapshot entry that leads elsewhere (a file of the user's linked into the cache) loses
    only its link."""
    parts = [path]
    if SPLIT_PART.search(path.name):
        stem = SPLIT_PART.sub("", path.name)
        parts = sorted(path.parent.glob(f"{stem}-*-of-*.gguf"))
    freed, kept = 0, []
    for part in parts:
        blob = part.resolve()
        repo = _repo_dir(part)
        if repo is None or not blob.is_relative_to(repo.resolve()):
            if part.is_symlink():
                part.unlink()
            kept.append(blob)
            continue
        freed += blob.stat().st_size if blob.exists() else 0
        part.unlink(missing_ok=True)
        if blob != part and blob.exists():
            blob.unlink()
    return freed, kept


def _repo_dir(part: Path) -> Path | None:
    """The models--owner--name folder of a snapshot file (…/snapshots/<commit>/…/file). The
    outermost match: a repository may keep its files in a folder named snapshots too."""
    for parent in reversed(part.parents):
        if parent.name == "snapshots" and parent.parent.name.startswith("models--"):
            return parent.parent
    return None


def _slug(stem: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-") or "model"
