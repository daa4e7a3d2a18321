"""The .rpm from `make package` (issue 12, finding 4), as far as a Debian machine can test it:
its Requires are the system libraries the bundle needs (computed, none of them bundled), it
provides nothing, it lists the same files as the .deb, and it installs into an empty rpm root
(--nodeps: no Fedora packages here to satisfy them) where the installed Duet runs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from desktop import __version__

pytestmark = pytest.mark.package
ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
DEPENDS = ROOT / "build" / "depends"


@pytest.fixture(scope="module")
def rpm_file() -> Path:
    if shutil.which("rpm") is None:
        pytest.fail("rpm is not installed (apt-get install rpm; .ci/run does)")
    path = DIST / f"duet-{__version__}-1.x86_64.rpm"
    assert path.is_file(), "run `make package` first"
    return path


def rpm_query(*args: str) -> list[str]:
    out = subprocess.run(["rpm", *args], capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.splitlines()


def test_the_rpm_requires_the_system_libraries_the_bundle_needs_and_nothing_bundled(
    rpm_file: Path,
) -> None:
    requires = rpm_query("-qp", "--requires", str(rpm_file))
    sonames = {re.sub(r"\(.*$", "", r) for r in requires if ".so" in r}
    needed = set((DEPENDS / "sonames.txt").read_text().split())
    bundled = set((DEPENDS / "bundled-sonames.txt").read_text().split())
    assert sonames and not sonames & bundled, sorted(sonames & bundled)
    # rpm's elfdeps and depends.py read the same ELF files: the same system libraries.
    assert sonames == needed - {"ld-linux-x86-64.so.2"} or sonames == needed
    assert "libxcb-cursor.so.0()(64bit)" in requires
    assert "libxcb-icccm.so.4()(64bit)" in requires
    assert not [r for r in requires if r.startswith("python(")]


def test_the_rpm_provides_nothing_of_the_bundle(rpm_file: Path) -> None:
    provides = rpm_query("-qp", "--provides", str(rpm_file))
    assert [p for p in provides if ".so" in p] == []


def test_the_rpm_has_the_debs_files_and_installs_into_an_empty_root(
    rpm_file: Path, tmp_path: Path
) -> None:
    files = set(rpm_query("-qpl", str(rpm_file)))
    assert {"/opt/duet/duet", "/usr/bin/duet", "/usr/share/applications/duet.desktop"} <= files
    deb = DIST / f"duet_{__version__}_amd64.deb"
    tar = subprocess.run(
        f"dpkg-deb --fsys-tarfile {deb} | tar -t", shell=True, capture_output=True, text=True
    )
    deb_files = {name.removeprefix(".").rstrip("/") for name in tar.stdout.splitlines()}
    assert {f for f in files if f.startswith("/opt/duet/")} == {
        f for f in deb_files if f.startswith("/opt/duet/")
    }
    root = tmp_path / "rpm-root"
    subprocess.run(["rpm", "--root", str(root), "--initdb"], check=True, timeout=60)
    subprocess.run(
        ["rpm", "--root", str(root), "-i", "--nodeps", "--noscripts", str(rpm_file)],
        check=True,
        timeout=300,
    )
    assert rpm_query("--root", str(root), "-q", "duet") == [f"duet-{__version__}-1.x86_64"]
    out = subprocess.run(
        [str(root / "opt/duet/duet"), "--version"], capture_output=True, text=True, timeout=120
    )
    assert out.stdout.strip() == f"duet {__version__}", out.stderr
