"""What the frozen bundle needs from the system, computed from the bundle itself.

Every ELF file in the bundle is read (its DT_NEEDED entries). A needed library is either
bundled (some file in the bundle has that name) or must come from the system; each system
library must be provided by an installed Debian package (dpkg -S), else the build stops naming
the library and the files that need it. dpkg-shlibdeps then turns the bundle's ELF files into
the .deb's Depends (versioned from the libraries' symbols files). It runs on the .deb's own tree
(ROOT has DEBIAN/), with the bundled libraries' folders as -l paths inside it: a library found
in the package's tree is the package's own and needs no dependency, so a bundled copy of a
system library (PyInstaller bundles many) never adds that library's package.

Outputs (in OUT_DIR): depends.txt (the Depends value), packages.txt (package names, one a
line, for the tar.gz's instructions), sonames.txt (the system libraries, one a line, for the
.rpm's filter and for other distributions), bundled-sonames.txt.

Usage: python3 packaging/linux/depends.py ROOT BUNDLE OUT_DIR
  ROOT: the .deb's tree (with DEBIAN/); BUNDLE: the bundle's folder inside it (opt/duet)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

def elf_files(bundle: Path) -> list[Path]:
    files = []
    for path in sorted(bundle.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as f:
            if f.read(4) == b"\x7fELF":
                files.append(path)
    return files


def needed(path: Path) -> list[str]:
    out = subprocess.run(
        ["objdump", "-p", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return re.findall(r"^\s*NEEDED\s+(\S+)", out, flags=re.M)


def system_libraries() -> dict[str, Path]:
    """Where the dynamic loader finds each system library (x86-64), from ldconfig's cache."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    found: dict[str, Path] = {}
    for line in out.splitlines():
        name, _, rest = line.strip().partition(" ")
        if "x86-64" in rest and name not in found:
            found[name] = Path(rest.rpartition("=> ")[2])
    return found


def owning_packages(paths: list[Path]) -> dict[Path, str]:
    """The installed package that ships each file (one dpkg query for all of them)."""
    # /lib is a symlink to /usr/lib on merged-/usr systems: dpkg knows one of the names.
    names: dict[str, Path] = {}
    for path in paths:
        for candidate in (path, path.resolve()):
            text = str(candidate)
            names[text] = path
            names[text[4:] if text.startswith("/usr/lib/") else "/usr" + text] = path
    out = subprocess.run(["dpkg-query", "-S", *names], capture_output=True, text=True)
    owners: dict[Path, str] = {}
    for line in out.stdout.splitlines():
        package, _, file = line.partition(": ")
        if file in names and "diversion" not in package:
            owners.setdefault(names[file], package.split(":")[0].split(",")[0].strip())
    return owners


def shlibdeps(root: Path, elfs: list[Path], lib_dirs: list[str]) -> str:
    """dpkg-shlibdeps over every ELF file; returns the Depends value."""
    with tempfile.TemporaryDirectory() as tmp:
        # dpkg-shlibdeps reads debian/control for the package it computes for.
        (Path(tmp) / "debian").mkdir()
        (Path(tmp) / "debian" / "control").write_text(
            "Source: duet\n\nPackage: duet\nArchitecture: amd64\n", encoding="utf-8"
        )
        args = ["dpkg-shlibdeps", "-O", f"-S{root}"]
        args += [f"-l{d}" for d in lib_dirs]
        out = subprocess.run(
            args + [str(p) for p in elfs], cwd=tmp, capture_output=True, text=True
        )
    if out.returncode != 0:
        sys.exit(f"dpkg-shlibdeps failed:\n{out.stderr}")
    for line in out.stdout.splitlines():
        if line.startswith("shlibs:Depends="):
            return line.split("=", 1)[1].strip()
    sys.exit(f"dpkg-shlibdeps printed no Depends:\n{out.stdout}{out.stderr}")


def main(root: Path, bundle: Path, out_dir: Path) -> None:
    if not (root / "DEBIAN").is_dir():
        sys.exit(f"{root} is not a package tree (no DEBIAN/ in it)")
    elfs = elf_files(bundle)
    names = {p.name for p in bundle.rglob("*") if p.is_file() or p.is_symlink()}
    users: dict[str, list[Path]] = defaultdict(list)
    for elf in elfs:
        for soname in needed(elf):
            users[soname].append(elf)
    system = sorted(s for s in users if s not in names)
    bundled = sorted(s for s in users if s in names)
    libraries = system_libraries()
    owners = owning_packages([libraries[s] for s in system if s in libraries])
    missing, packages = [], set()
    for soname in system:
        path = libraries.get(soname)
        package = owners.get(path) if path else None
        if package is None:
            who = ", ".join(str(p.relative_to(bundle)) for p in users[soname][:3])
            where = f"found at {path} but no package provides it" if path else "not found"
            missing.append(f"  {soname} ({where}), needed by {who}")
        else:
            packages.add(package)
    if missing:
        sys.exit(
            "These libraries are needed by the bundle but neither bundled nor provided by an "
            "installed Debian package:\n" + "\n".join(missing) + "\nInstall the package that "
            "provides each (apt-file search NAME), or keep the file needing it out of the bundle."
        )
    lib_dirs = sorted({"/" + str(p.parent.relative_to(root)) for p in elfs if ".so" in p.name})
    depends = shlibdeps(root, elfs, lib_dirs)
    declared = {d.split()[0] for d in depends.split(", ")}
    if not packages <= declared:
        sys.exit(f"dpkg-shlibdeps left out {sorted(packages - declared)}; Depends: {depends}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "depends.txt").write_text(depends + "\n", encoding="utf-8")
    (out_dir / "packages.txt").write_text("\n".join(sorted(declared)) + "\n", encoding="utf-8")
    (out_dir / "sonames.txt").write_text("\n".join(system) + "\n", encoding="utf-8")
    (out_dir / "bundled-sonames.txt").write_text("\n".join(bundled) + "\n", encoding="utf-8")
    print(f"{len(elfs)} ELF files; {len(system)} system libraries from {len(declared)} packages")
    print(f"Depends: {depends}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    os.environ["LC_ALL"] = "C"
    root = Path(sys.argv[1]).resolve()
    main(root, root / sys.argv[2], Path(sys.argv[3]))
