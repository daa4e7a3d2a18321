# Windows: dist\duet (PyInstaller) and dist\DuetSetup.exe (Inno Setup), on a Windows runner.
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
python -m venv .venv-package
$env:CMAKE_ARGS = "-DGGML_NATIVE=OFF"
.venv-package\Scripts\pip install --no-cache-dir llama-cpp-python==0.3.36
# .[package]: PyInstaller, and Pillow, which turns resources\duet.png into the .ico icon.
.venv-package\Scripts\pip install ".[package]"
.venv-package\Scripts\pyinstaller --noconfirm --clean --distpath dist --workpath build\pyinstaller packaging\duet.spec
& "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" packaging\windows\duet.iss
