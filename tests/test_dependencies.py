"""Every package Duet imports is declared in pyproject.toml (issue 12, finding 6): a package that
arrives only as another's dependency can vanish with that package's next release."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(folder: Path) -> dict[str, list[str]]:
    """Top-level module -> the files importing it (absolute imports, lazy ones included)."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], []).append(str(path.relative_to(ROOT)))
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(pyproject: Path) -> set[str]:
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    return {_normal(re.split(r"[\s<>=!~;\[]", dep, maxsplit=1)[0]) for dep in deps}


def undeclared(pyproject: Path) -> dict[str, list[str]]:
    """Third-party modules imported by desktop/ whose distribution pyproject does not name."""
    distributions = packages_distributions()
    names = declared(pyproject)
    missing = {}
    for module, files in imported_modules(ROOT / "desktop").items():
        if module in sys.stdlib_module_names or module in ("desktop", "__future__"):
            continue
        owners = {_normal(d) for d in distributions.get(module, [module])}
        if not owners & names:
            missing[f"{module} (from {', '.join(sorted(owners))})"] = sorted(set(files))
    return missing


def test_every_imported_package_is_a_declared_dependency() -> None:
    assert undeclared(ROOT / "pyproject.toml") == {}


def test_the_check_finds_an_import_that_is_not_declared(tmp_path: Path) -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    without = re.sub(r'\n\s*"httpx2[^\n]*', "", text)
    assert without != text
    (tmp_path / "pyproject.toml").write_text(without, encoding="utf-8")
    missing = undeclared(tmp_path / "pyproject.toml")
    assert list(missing) == ["httpx2 (from httpx2)"]
    assert "desktop/core/hub/api.py" in missing["httpx2 (from httpx2)"]
