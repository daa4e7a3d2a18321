#!/usr/bin/env bash
# Linux artifacts in dist/, all from one PyInstaller folder: the folder itself (dist/duet), a
# .deb, a .tar.gz and an .rpm.
# llama-cpp-python is compiled with GGML_NATIVE=OFF (no -march=native: the build must run on
# any x86-64 CPU) once per version into ~/.cache/duet-build, and reused (llama-wheel.sh).
# What the bundle needs from the system is computed from its files (depends.py): the .deb's
# Depends, the .rpm's Requires and the tar.gz's INSTALL.txt. A needed library that is neither
# bundled nor provided by an installed package stops the build, naming it.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.venv-package
PY="${PYTHON:-python3}"
step() { echo "== $* ($SECONDS s)"; }

WHEEL=$(bash packaging/linux/llama-wheel.sh)
test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "$WHEEL"
"$VENV/bin/python" -m pip install -q ".[package]"

step "PyInstaller"
rm -rf build/pyinstaller dist/duet dist/duet_*.deb dist/duet-*.tar.gz dist/duet-*.rpm
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --workpath build/pyinstaller --distpath dist packaging/duet.spec

VERSION=$("$VENV/bin/python" -c "import desktop; print(desktop.__version__)")
step "The .deb's tree"
ROOT="build/deb/duet_${VERSION}_amd64"
rm -rf "$ROOT"
mkdir -p "$ROOT/DEBIAN" "$ROOT/opt" "$ROOT/usr/bin" "$ROOT/usr/share/applications" \
  "$ROOT/usr/share/icons/hicolor/256x256/apps"
cp -a dist/duet "$ROOT/opt/duet"
ln -s /opt/duet/duet "$ROOT/usr/bin/duet"
cp resources/duet.desktop "$ROOT/usr/share/applications/duet.desktop"
cp resources/duet.png "$ROOT/usr/share/icons/hicolor/256x256/apps/duet.png"

step "Depends, from the bundle's ELF files"
python3 packaging/linux/depends.py "$ROOT" opt/duet build/depends
DEPENDS=$(<build/depends/depends.txt)
step "INSTALL.txt (in every installer; what the tar.gz needs from the system)"
# The portable folder says what it needs from the system, from the same computation.
packages=$(sed -E 's/ \([^)]*\)//g; s/, / /g' build/depends/depends.txt)
glibc=$(sed -nE 's/.*libc6 \(>= ([^)]+)\).*/\1/p' build/depends/depends.txt)
cat >dist/duet/INSTALL.txt <<EOF
Duet $VERSION for Linux x86-64, as a folder that runs from anywhere

Start the window with duet/duet, or run duet/duet --help for the command line.

Duet carries Python, Qt and llama.cpp. From the system it needs glibc ${glibc:-2.35} or newer and
these libraries, which desktop Linux systems usually have. On Debian 12 (tested) and its kin:

  sudo apt install $packages

(The list is computed from the bundle's own files when it is built; on a clean, minimal
Debian 12 this command is exactly what the release's clean-system test runs before starting
Duet.) On other distributions, install what provides these libraries:

$(tr '\n' ' ' <build/depends/sonames.txt | fold -s -w 90 | sed 's/^/  /')
  and a font (fontconfig with any TrueType font)

On first start with no model, Duet offers to download the starter pair from the Hugging Face
Hub (about 350 MB), to import a .gguf file, or to add a folder of GGUF files.
EOF
cp dist/duet/INSTALL.txt "$ROOT/opt/duet/INSTALL.txt"

SIZE_KB=$(du -sk "$ROOT" | cut -f1)
shopt -u patsub_replacement 2>/dev/null || true
control=$(<packaging/linux/control.in)
control=${control//@VERSION@/$VERSION}
control=${control//@SIZE@/$SIZE_KB}
control=${control//@DEPENDS@/$DEPENDS}
printf '%s\n' "$control" >"$ROOT/DEBIAN/control"

step "dpkg-deb"
dpkg-deb --build --root-owner-group -Zxz "$ROOT" "dist/duet_${VERSION}_amd64.deb" >/dev/null

step "tar.gz"
tar -C dist -czf "dist/duet-${VERSION}-linux-x86_64.tar.gz" duet

step "rpm"
bash packaging/linux/build-rpm.sh "$VERSION" dist/duet build/depends/bundled-sonames.txt

step "done"
ls -la dist/*.deb dist/*.tar.gz dist/*.rpm
