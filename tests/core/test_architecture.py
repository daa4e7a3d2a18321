"""The boundaries the design rests on: core never imports Qt; the window process never imports
llama.cpp (only engine workers do); the window and the CLI reach engines only through the Engine
protocol and its factory, so nothing outside desktop/core/engine tells local from remote."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

DESKTOP = Path(__file__).resolve().parents[2] / "desktop"
CORE = DESKTOP / "core"
ENGINE = CORE / "engine"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_qt() -> None:
    offenders = {
        str(path.relative_to(CORE)): sorted(
            imported_modules(path) & {"PySide6", "PyQt6", "shiboken6"}
        )
        for path in CORE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_worker_imports_llama_cpp() -> None:
    importers = sorted(
        str(path.relative_to(CORE))
        for path in CORE.rglob("*.py")
        if "llama_cpp" in imported_modules(path)
    )
    assert importers == ["engine/local/worker.py"]  # and lazily, inside the worker process


def test_the_window_process_does_not_load_llama_cpp() -> None:
    code = (
        "import sys; import desktop.ui.main_window, desktop.ui.compare.window, "
        "desktop.ui.models.window, desktop.cli; print('llama_cpp' in sys.modules)"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "False"


def imported_names(path: Path) -> set[str]:
    """Every module a file imports, with `from a import b` also as `a.b` (b may be a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def outside_the_engines() -> list[Path]:
    return [path for path in DESKTOP.rglob("*.py") if ENGINE not in path.parents]


def test_the_window_and_the_cli_never_import_an_engine_directly() -> None:
    engines = ("desktop.core.engine.local", "desktop.core.engine.remote")
    offenders = {
        str(path.relative_to(DESKTOP)): sorted(
            name for name in imported_names(path) if name.startswith(engines)
        )
        for path in [*(DESKTOP / "ui").rglob("*.py"), *(DESKTOP / "cli").rglob("*.py")]
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_nothing_outside_the_engines_tells_local_from_remote() -> None:
    """The engine classes and the server's model type are named only in desktop/core/engine
    (the factory decides, everything else asks capabilities) and where ServerModel is defined."""
    telling = {"EngineClient", "RemoteEngine", "ServerModel"}
    offenders: dict[str, list[str]] = {}
    for path in outside_the_engines():
        if path == CORE / "models" / "served.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
            n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
        }
        if found := sorted(used & telling):
            offenders[str(path.relative_to(DESKTOP))] = found
    assert offenders == {}
