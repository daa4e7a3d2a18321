"""The frozen build from `make package`: the .deb unpacks, and the frozen app prints its
version, passes its self-test on the real starter models, opens and closes its window, and with
no model and no network shows the first-run page without the download."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from desktop import __version__

pytestmark = pytest.mark.package
DIST = Path(__file__).resolve().parents[2] / "dist"


@pytest.fixture(scope="module")
def deb_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    debs = sorted(DIST.glob(f"duet_{__version__}_amd64.deb"))
    assert debs, "run `make package` first"
    root = tmp_path_factory.mktemp("deb-root")
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True)
    return root


@pytest.fixture
def frozen_env(tmp_path: Path, starter_paths: tuple[Path, Path]) -> dict[str, str]:
    starter = tmp_path / "starter"
    starter.mkdir()
    for path in starter_paths:  # the starter models from the build environment
        (starter / path.name).symlink_to(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(
        DUET_HOME=str(tmp_path / "home"), DUET_STARTER_DIR=str(starter), QT_QPA_PLATFORM="offscreen"
    )
    return env


def test_the_deb_installs_a_launcher_a_desktop_entry_and_an_icon(deb_root: Path) -> None:
    launcher = deb_root / "usr" / "bin" / "duet"
    assert launcher.is_symlink() and os.readlink(launcher) == "/opt/duet/duet"
    assert (deb_root / "opt" / "duet" / "duet").is_file()
    assert (deb_root / "usr/share/applications/duet.desktop").read_text().count("Exec=duet") == 1
    assert (deb_root / "usr/share/icons/hicolor/256x256/apps/duet.png").is_file()
    libs = deb_root / "opt" / "duet" / "_internal" / "llama_cpp" / "lib"
    assert any(libs.glob("libllama*.so*")), "llama.cpp's libraries must sit in llama_cpp/lib"


def test_frozen_version(deb_root: Path, frozen_env: dict[str, str]) -> None:
    out = subprocess.run(
        [str(deb_root / "opt/duet/duet"), "--version"],
        capture_output=True,
        text=True,
        env=frozen_env,
        timeout=120,
    )
    assert out.returncode == 0 and out.stdout.strip() == f"duet {__version__}"


def test_frozen_self_test_on_the_real_starter_models(
    deb_root: Path, frozen_env: dict[str, str]
) -> None:
    out = subprocess.run(
        [str(deb_root / "opt/duet/duet"), "self-test"],
        capture_output=True,
        text=True,
        env=frozen_env,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("ok  ") == 2 and "self-test passed" in out.stdout


def test_frozen_window_opens_and_closes_cleanly(deb_root: Path, frozen_env: dict[str, str]) -> None:
    env = {**frozen_env, "DUET_PRINT_STARTUP": "1"}
    child = subprocess.Popen(
        [str(deb_root / "opt/duet/duet")], env=env, stderr=subprocess.PIPE, text=True
    )
    assert child.stderr is not None
    try:
        lines = []
        while not any("window shown after" in line for line in lines):  # past Qt's own notes
            line = child.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        time.sleep(3)  # it runs: scans models, loads one
        assert child.poll() is None
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:  # a failed assertion must not leave a window running
            child.kill()
            child.wait()


def test_frozen_first_start_with_no_model_and_no_network_offers_a_file_or_a_folder(
    deb_root: Path, frozen_env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 12, finding 5: the installed app with nothing installed and the Hub unreachable."""
    empty = tmp_path / "no-starter"
    empty.mkdir()
    env = {
        **frozen_env,
        "DUET_PRINT_STARTUP": "1",
        "DUET_STARTER_DIR": str(empty),
        "DUET_HOME": str(tmp_path / "first-home"),
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_CACHE": str(tmp_path / "hf-home" / "hub"),
        "HF_ENDPOINT": "http://127.0.0.1:9",  # nothing listens: no network
    }
    child = subprocess.Popen(
        [str(deb_root / "opt/duet/duet")], env=env, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    assert child.stderr is not None
    threading.Thread(target=lambda: [lines.put(line) for line in child.stderr], daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while not any(line.startswith("first-run page:") for line in seen):
            assert time.monotonic() < deadline, "".join(seen)
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                assert child.poll() is None, "".join(seen)
        page = next(line for line in seen if line.startswith("first-run page:"))
        assert "Hub unreachable" in page
        assert "import a .gguf file" in page and "add a folder of GGUFs" in page
        assert child.poll() is None
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
