"""Regenerate resources/icons/ (the Lucide SVGs Duet uses) from the `lucide` PyPI package.

Run as `make icons` or `python packaging/icons.py`. The icons are copied byte for byte from the
package's zip, with the package's licence, so tests can check the bundle against the package.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import sys
import zipfile
from pathlib import Path

ICONS_DIR = Path(__file__).resolve().parents[1] / "resources" / "icons"

# Every icon Duet shows; desktop/ui/icons.py refuses any other name.
NAMES: tuple[str, ...] = (
    "arrow-up",
    "bot",
    "chart-column",
    "check",
    "chevron-down",
    "chevron-left",
    "chevron-right",
    "chevron-up",
    "circle-alert",
    "circle-stop",
    "clock",
    "columns-2",
    "copy",
    "cpu",
    "download",
    "ellipsis",
    "eye",
    "file-down",
    "file-plus",
    "file-text",
    "file-up",
    "folder-open",
    "git-branch",
    "hard-drive",
    "history",
    "info",
    "list",
    "message-square",
    "message-square-plus",
    "monitor",
    "moon",
    "panel-left",
    "pencil",
    "picture-in-picture-2",
    "play",
    "plus",
    "refresh-cw",
    "rotate-ccw",
    "save",
    "scroll-text",
    "search",
    "send-horizontal",
    "server",
    "settings",
    "sliders-horizontal",
    "square",
    "sun",
    "sun-moon",
    "trash-2",
    "triangle-alert",
    "undo-2",
    "upload",
    "user",
    "x",
)


def package_svg(name: str) -> bytes:
    """The SVG named `name` exactly as the installed `lucide` package ships it."""
    data = importlib.resources.files("lucide").joinpath("lucide.zip")
    with data.open("rb") as raw, zipfile.ZipFile(raw) as archive:
        return archive.read(f"{name}.svg")


def package_licence() -> str:
    """The `lucide` package's own licence text (its wrapper's MIT and Lucide's ISC)."""
    dist = importlib.metadata.distribution("lucide")
    for file in dist.files or ():
        if file.name.upper().startswith("LICENSE"):
            return file.read_text()
    raise SystemExit("the installed lucide package has no LICENSE file")


def main() -> int:
    version = importlib.metadata.version("lucide")
    ICONS_DIR.mkdir(parents=True, exist_ok=True)
    for old in ICONS_DIR.glob("*.svg"):
        old.unlink()
    for name in NAMES:
        (ICONS_DIR / f"{name}.svg").write_bytes(package_svg(name))
    (ICONS_DIR / "LICENSE").write_text(package_licence())
    (ICONS_DIR / "README.md").write_text(
        f"Icons from Lucide (https://lucide.dev), copied unchanged from the PyPI package "
        f"`lucide` {version} by `make icons` (packaging/icons.py). Licence: LICENSE (ISC for "
        f"the icons, MIT for the package).\n"
    )
    print(f"{len(NAMES)} icons from lucide {version} in {ICONS_DIR}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
