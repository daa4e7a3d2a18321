#!/usr/bin/env bash
# Linux artifacts: a PyInstaller folder, a .deb and a .tar.gz, in dist/.
# llama-cpp-python is compiled with GGML_NATIVE=OFF (no -march=native: the build must run on
# any x86-64 CPU) once per version into ~/.cache/duet-build, and reused.
set -euo pipefail
cd "$(dirname "$0")/../.."
LLAMA_VERSION=0.3.36
CACHE="${DUET_BUILD_CACHE:-$HOME/.cache/duet-build}"
WHEELS="$CACHE/wheel-native-off"
VENV=.venv-package
PY="${PYTHON:-python3}"

if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $LLAMA_VERSION with GGML_NATIVE=OFF (once, several minutes)..."
  mkdir -p "$WHEELS"
  CMAKE_ARGS="-DGGML_NATIVE=OFF" "$PY" -m pip wheel --no-deps --no-cache-dir "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELS"
fi
test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl
"$VENV/bin/python" -m pip install -q . "pyinstaller>=6.10"

rm -rf build/pyinstaller dist/duet
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --workpath build/pyinstaller --distpath dist packaging/duet.spec

VERSION=$("$VENV/bin/python" -c "import desktop; print(desktop.__version__)")
ROOT="build/deb/duet_${VERSION}_amd64"
rm -rf "$ROOT"
mkdir -p "$ROOT/DEBIAN" "$ROOT/opt" "$ROOT/usr/bin" "$ROOT/usr/share/applications" \
  "$ROOT/usr/share/icons/hicolor/256x256/apps"
cp -a dist/duet "$ROOT/opt/duet"
ln -s /opt/duet/duet "$ROOT/usr/bin/duet"
cp resources/duet.desktop "$ROOT/usr/share/applications/duet.desktop"
cp resources/duet.png "$ROOT/usr/share/icons/hicolor/256x256/apps/duet.png"
SIZE_KB=$(du -sk "$ROOT" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@SIZE@/$SIZE_KB/" packaging/linux/control.in > "$ROOT/DEBIAN/control"
dpkg-deb --build --root-owner-group -Zxz "$ROOT" "dist/duet_${VERSION}_amd64.deb" >/dev/null
tar -C dist -czf "dist/duet-${VERSION}-linux-x86_64.tar.gz" duet
ls -la dist/*.deb dist/*.tar.gz
