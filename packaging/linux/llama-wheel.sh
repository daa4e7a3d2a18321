#!/usr/bin/env bash
# Prints the path of the llama-cpp-python wheel compiled with GGML_NATIVE=OFF (no
# -march=native: it runs on any x86-64 CPU), building it once per version into
# ~/.cache/duet-build (several minutes). The installers and `make test-lowest` reuse it.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=$(sed -nE 's/.*"llama-cpp-python==([0-9.]+)".*/\1/p' pyproject.toml | head -n1)
WHEELS="${DUET_BUILD_CACHE:-$HOME/.cache/duet-build}/wheel-native-off"
if ! ls "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $VERSION with GGML_NATIVE=OFF (once, several minutes)..." >&2
  mkdir -p "$WHEELS"
  CMAKE_ARGS="-DGGML_NATIVE=OFF" "${PYTHON:-python3}" -m pip wheel --no-deps --no-cache-dir \
    "llama-cpp-python==$VERSION" -w "$WHEELS" >&2
fi
ls "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl | head -n1
