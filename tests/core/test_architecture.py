"""The boundaries the design rests on: core never imports Qt, and the window process never
imports llama.cpp (only engine workers do)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "desktop" / "core"


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
