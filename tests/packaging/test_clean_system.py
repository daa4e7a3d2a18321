"""The installers on a clean, minimal Debian 12 (issue 12, finding 2): the .deb installed with
apt, the tar.gz unpacked with the packages its INSTALL.txt names, then `duet --version`,
`duet self-test` on the starter files, the window on a real X11 server (Xvfb, the xcb platform)
with a screenshot, the first-run page with no model and no network, and the window on Wayland
(weston, headless). packaging/linux/clean-system-test.sh does the work; it needs root."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from desktop import __version__

pytestmark = pytest.mark.package
ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
SCRIPT = ROOT / "packaging" / "linux" / "clean-system-test.sh"
TOOLS = ("debootstrap", "Xvfb", "xdotool", "xwd", "xwininfo", "weston")


def run_clean_system_test(kind: str, installer: Path, starter: Path, out: Path) -> str:
    """Runs the script, bounded: on a time-out it gets SIGTERM first, so its trap unmounts."""
    child = subprocess.Popen(
        ["bash", str(SCRIPT), kind, str(installer), str(starter), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = child.communicate(timeout=1500)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGTERM)
        output, _ = child.communicate(timeout=120)
        pytest.fail(f"the clean-system test did not finish in 25 minutes:\n{output}")
    assert child.returncode == 0, output
    return output


@pytest.fixture(scope="module")
def starter(tmp_path_factory: pytest.TempPathFactory, starter_paths: tuple[Path, Path]) -> Path:
    folder = tmp_path_factory.mktemp("starter")
    for path in starter_paths:
        (folder / path.name).symlink_to(path)
    return folder


@pytest.fixture(scope="module", autouse=True)
def _can_run() -> None:
    if os.geteuid() != 0:
        pytest.skip("the clean-system test needs root (chroot, mounts)")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    assert not missing, f"install {missing} first (.ci/run does)"


def check(output: str, kind: str, out: Path) -> None:
    assert f"ok  installed ({kind})" in output
    assert f"ok  duet --version: duet {__version__}" in output
    assert "ok  duet self-test: 2 models generated" in output
    assert "ok  x11: window" in output and "closed cleanly" in output
    assert "ok  x11-first-run: window" in output
    assert "first-run page: Hub unreachable; offered: import a .gguf file, add a folder" in output
    assert "ok  wayland: libqwayland" in output
    for shot in ("x11.png", "x11-first-run.png"):
        assert (out / shot).stat().st_size > 10_000


def test_the_deb_on_a_clean_debian_12(starter: Path) -> None:
    debs = sorted(DIST.glob(f"duet_{__version__}_amd64.deb"))
    assert debs, "run `make package` first"
    out = DIST / "clean-system" / "deb"
    output = run_clean_system_test("deb", debs[0], starter, out)
    print(output)
    check(output, "deb", out)


def test_the_tar_gz_on_a_clean_debian_12_with_the_packages_it_names(starter: Path) -> None:
    tars = sorted(DIST.glob(f"duet-{__version__}-linux-x86_64.tar.gz"))
    assert tars, "run `make package` first"
    out = DIST / "clean-system" / "tar"
    output = run_clean_system_test("tar", tars[0], starter, out)
    print(output)
    check(output, "tar", out)
