#!/usr/bin/env bash
# macOS: Duet.app and Duet.dmg in dist/ (run on a Mac; CI: .github/workflows/installers.yml).
# llama.cpp builds with Metal on Apple Silicon by default; GGML_NATIVE=OFF keeps the CPU code
# portable across Macs.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m venv .venv-package
CMAKE_ARGS="-DGGML_NATIVE=OFF" .venv-package/bin/pip install --no-cache-dir llama-cpp-python==0.3.36
# .[package]: PyInstaller, and Pillow, which turns resources/duet.png into the .icns icon.
.venv-package/bin/pip install ".[package]"
.venv-package/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/duet.spec
hdiutil create -volname Duet -srcfolder dist/Duet.app -ov -format UDZO dist/Duet.dmg
