"""The macOS and Windows configs, checked as far as a Linux machine can (issue 12, finding 7):
the workflow passes actionlint, the Inno Setup script's paths match the bundle PyInstaller
makes from packaging/duet.spec, and every platform branch of the build names the same files."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path, PureWindowsPath

import pytest
import tomllib

from desktop import __version__

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "packaging" / "duet.spec").read_text(encoding="utf-8")
ISS = ROOT / "packaging" / "windows" / "duet.iss"
WORKFLOW = (ROOT / ".github" / "workflows" / "installers.yml").read_text(encoding="utf-8")
SCRIPTS = {
    "linux": (ROOT / "packaging" / "linux" / "build.sh").read_text(encoding="utf-8"),
    "macos": (ROOT / "packaging" / "macos" / "build.sh").read_text(encoding="utf-8"),
    "windows": (ROOT / "packaging" / "windows" / "build.ps1").read_text(encoding="utf-8"),
}


def inno() -> configparser.ConfigParser:
    # [Files]/[Icons] lines are not key=value pairs: read them as keys without values.
    parser = configparser.ConfigParser(
        allow_no_value=True, delimiters=("=",), comment_prefixes=(";",), strict=False
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(ISS.read_text(encoding="utf-8"))
    return parser


def inno_entries(section: str) -> list[dict[str, str]]:
    """`Name: "x"; Filename: "y"` lines as dicts."""
    entries = []
    for line in inno()[section]:
        fields = re.findall(r'(\w+):\s*("[^"]*"|[^;]+)', line)
        entries.append({k: v.strip().strip('"') for k, v in fields})
    return entries


def spec_value(pattern: str) -> str:
    match = re.search(pattern, SPEC)
    assert match, pattern
    return match.group(1)


def test_the_installer_names_the_exe_the_spec_builds_and_the_version_duet_has() -> None:
    setup = inno()["Setup"]
    assert setup["AppVersion"] == __version__
    exe = spec_value(r'EXE\([^)]*?name="([^"]+)"')
    folder = spec_value(r'COLLECT\([^)]*?name="([^"]+)"')
    source = PureWindowsPath(inno_entries("Files")[0]["Source"])
    # ..\..\dist\<COLLECT name>\* relative to packaging\windows: PyInstaller's --distpath dist.
    assert source.parts == ("..", "..", "dist", folder, "*")
    assert "--distpath dist" in SCRIPTS["windows"]
    for entry in inno_entries("Icons") + inno_entries("Run"):
        assert entry["Filename"] == rf"{{app}}\{exe}.exe"
    # What Inno Setup writes is what the workflow uploads.
    output = PureWindowsPath(setup["OutputDir"]) / f"{setup['OutputBaseFilename']}.exe"
    assert output.parts == ("..", "..", "dist", "DuetSetup.exe")
    assert "dist/DuetSetup.exe" in WORKFLOW
    assert "packaging\\windows\\duet.iss" in SCRIPTS["windows"]


def test_the_spec_branches_match_each_platforms_script_and_the_workflow() -> None:
    app = spec_value(r'BUNDLE\([^)]*?name="([^"]+)"')
    assert 'sys.platform == "darwin"' in SPEC
    assert f"-srcfolder dist/{app}" in SCRIPTS["macos"] and "dist/Duet.dmg" in SCRIPTS["macos"]
    assert "dist/*.dmg" in WORKFLOW
    # The frozen executable each matrix entry runs is the spec's EXE inside the COLLECT folder.
    exe = spec_value(r'EXE\([^)]*?name="([^"]+)"')
    folder = spec_value(r'COLLECT\([^)]*?name="([^"]+)"')
    assert f"frozen: dist/{folder}/{exe}\n" in WORKFLOW
    assert f"frozen: dist/{folder}/{exe}.exe\n" in WORKFLOW
    # The icon is a PNG: PyInstaller converts it to .ico/.icns only with Pillow installed.
    assert spec_value(r'icon=str\(root / "resources" / "([^"]+)"\)') == "duet.png"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("pillow") for d in extras["optional-dependencies"]["package"])
    for name in ("macos", "windows", "linux"):
        assert '".[package]"' in SCRIPTS[name], name


def test_every_platform_builds_the_engine_version_duet_pins() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(d for d in deps if d.startswith("llama-cpp-python=="))
    version = pin.split("==")[1]
    # Linux: llama-wheel.sh reads the pin from pyproject.toml itself.
    assert "llama-wheel.sh" in SCRIPTS["linux"]
    wheel = (ROOT / "packaging" / "linux" / "llama-wheel.sh").read_text(encoding="utf-8")
    assert "llama-cpp-python==" in wheel and "pyproject.toml" in wheel
    assert f"llama-cpp-python=={version}" in SCRIPTS["macos"]
    assert f"llama-cpp-python=={version}" in SCRIPTS["windows"]
    for script in (SCRIPTS["macos"], SCRIPTS["windows"], wheel):
        assert "GGML_NATIVE=OFF" in script


@pytest.mark.package
def test_the_workflow_passes_actionlint() -> None:
    actionlint = ROOT / ".venv-package" / "bin" / "actionlint"
    assert actionlint.exists(), "run `make package` first (it installs .[package])"
    out = subprocess.run(
        [str(actionlint), ".github/workflows/installers.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    if shutil.which("shellcheck") is None:  # actionlint checks run: scripts with it
        pytest.fail("shellcheck is not installed (.ci/run installs it)")


@pytest.mark.package
def test_the_bundle_has_what_the_installer_script_copies() -> None:
    bundle = ROOT / "dist" / spec_value(r'COLLECT\([^)]*?name="([^"]+)"')
    exe = spec_value(r'EXE\([^)]*?name="([^"]+)"')
    # The same onedir layout on every OS: the executable at the top, everything else inside.
    assert (bundle / exe).is_file() and (bundle / "_internal").is_dir()
    assert (bundle / "_internal" / "models.toml").is_file()
    assert (bundle / "_internal" / "resources" / "duet.png").is_file()
