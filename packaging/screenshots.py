"""Take the README's screenshots: the main and the compare window, light and dark, at 1280x800
and 1024x640, on the real starter models, into resources/screenshots/.

Run as `make screenshots` (or `python packaging/screenshots.py`). Without a DISPLAY it starts
its own Xvfb (the `xvfb` package) and runs itself there; Duet's data goes to a temporary
DUET_HOME that is removed afterwards, so nothing of the user's shows or changes. The models
sample with a fixed seed, so the pictures are the same each time.

Files: {main,compare}-{light,dark}-{1280x800,1024x640}.png. The light main window shows a short
chat; the dark one the raw notebook after a continuation (both are in History). And, light at
1280x800: welcome (the first start's page), {shift,fork} (a token shift, and a token's
alternatives offered to fork from), experiment (the guided experiment "A base model aligned by
examples" after its run) and ladder (a ladder's four stages side by side: no real ladder's
GGUFs can be fetched offline, so the starter files stand in for the stages, as in the tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "screenshots"
SIZES = ((1280, 800), (1024, 640))
DISPLAY = ":97"
CHAT = "Give me three tips for a good night's sleep."
RAW = "A simple tomato soup\n\nIngredients:\n1."
COMPARE = "The three primary colours are"
BASE = "gemma-3-270m"
SHIFT = "Give me three tips for sleeping well."
LADDER = "Explain in one sentence why the sky is blue."


def main() -> int:
    if not os.environ.get("DUET_SCREENSHOTS_CHILD"):
        return _relaunch()
    sys.path.insert(0, str(ROOT))
    return _take()


def _relaunch() -> int:
    """Run this script again under Xvfb (unless a display is given), in a fresh DUET_HOME."""
    home = tempfile.mkdtemp(prefix="duet-screenshots-")
    env = dict(os.environ, DUET_SCREENSHOTS_CHILD="1", DUET_HOME=home, QT_QPA_PLATFORM="xcb")
    env["HF_HUB_OFFLINE"] = "1"  # the screenshots never touch the network
    xvfb = None
    try:
        if not os.environ.get("SCREENSHOTS_DISPLAY"):
            if shutil.which("Xvfb") is None:
                print("Xvfb is needed: apt install xvfb", file=sys.stderr)
                return 1
            xvfb = subprocess.Popen(
                ["Xvfb", DISPLAY, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
            env["DISPLAY"] = DISPLAY
        else:
            env["DISPLAY"] = os.environ["SCREENSHOTS_DISPLAY"]
        return subprocess.run([sys.executable, __file__], env=env, timeout=900).returncode
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


def _wait(app: object, done: Callable[[], bool], seconds: float, what: str) -> None:
    from PySide6.QtWidgets import QApplication

    assert isinstance(app, QApplication)
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.02)
    for _ in range(20):  # let the last layouts and paints land
        app.processEvents()
        time.sleep(0.01)


def _shoot(
    app: object, name: str, scheme: str, widget: object, sizes: tuple[tuple[int, int], ...] = SIZES
) -> None:
    """`widget` in the `scheme` theme at each size, into resources/screenshots/."""
    from PySide6.QtWidgets import QWidget

    from desktop.ui.theme import apply_theme

    assert isinstance(widget, QWidget)
    apply_theme(app, scheme)  # type: ignore[arg-type]  # the QApplication
    OUT.mkdir(parents=True, exist_ok=True)
    for width, height in sizes:
        widget.resize(width, height)
        _wait(app, lambda: True, 5, "the layout")
        path = OUT / f"{name}-{scheme}-{width}x{height}.png"
        widget.grab().save(str(path))
        print(path.relative_to(ROOT), file=sys.stderr)


def _why(app: object, compare: object) -> None:
    """The token shift of the instruct model's answer ranked by the base model, then the
    alternatives of a token of the base model's text, offered to fork from."""
    from desktop.ui.compare.window import CompareWindow

    assert isinstance(compare, CompareWindow)
    compare.heat.setChecked(False)
    left, right = compare.columns
    left.mode.set_mode("raw")
    compare.input.setPlainText(SHIFT)
    compare.run()
    _wait(app, lambda: not compare.busy, 180, "the compare run")
    compare.score(1)
    _wait(app, right.shift.isVisible, 120, "the token shift")
    _shoot(app, "shift", "light", compare, SIZES[:1])
    right.shift.colour.setChecked(False)
    compare.offer_fork(left, min(6, len(left.view.tokens) - 1))
    _shoot(app, "fork", "light", compare, SIZES[:1])


def _take() -> int:
    from dataclasses import replace

    from desktop.core.chat.sampling import SamplingParams
    from desktop.ui.app import make_app

    app = make_app()
    from desktop.ui.main_window import MainWindow

    window = MainWindow()
    window.resize(*SIZES[0])
    window.show()
    _wait(app, lambda: window.runtime is not None, 120, "the model to load")
    _shoot(app, "welcome", "light", window, SIZES[:1])  # a fresh home: the first start's page
    seeded = replace(
        window.settings,
        sampling=SamplingParams(temperature=0.7, seed=7, repeat_penalty=1.15, max_tokens=120),
    )
    window.sampling.load(seeded)  # the panel shows what the replies used
    window._settings_changed(seeded)
    window.new_chat()
    window.send_chat(CHAT)
    _wait(app, lambda: not window.busy, 120, "the chat reply")
    _shoot(app, "main", "light", window)  # a chat with the instruct model

    window.select_model(BASE)  # raw continuation is what a base model is for
    _wait(app, lambda: window.runtime is not None and not window.busy, 120, "the base model")
    window.set_mode("raw")
    window.raw_view.set_text(RAW)
    window.continue_raw()
    _wait(app, lambda: not window.busy, 120, "the raw continuation")
    _shoot(app, "main", "dark", window)

    window.open_compare()
    compare = window.compare_window
    assert compare is not None
    compare.resize(*SIZES[0])
    compare.input.setPlainText(COMPARE)
    compare.heat.setChecked(True)
    compare.run()
    _wait(app, lambda: not compare.busy, 180, "the compare run")
    for scheme in ("light", "dark"):
        _shoot(app, "compare", scheme, compare)
    _why(app, compare)
    _experiment(app, window)
    compare.close()
    _ladder(app, window.settings)
    window.close()
    return 0


def _experiment(app: object, window: object) -> None:
    """A guided experiment from the Try this menu, after its run, its note on top."""
    from desktop.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    run = window.try_experiment("examples")
    _wait(app, lambda: run.done, 300, "the guided experiment")
    assert window.compare_window is not None
    _shoot(app, "experiment", "light", window.compare_window, SIZES[:1])


def _ladder(app: object, settings: object) -> None:
    """A ladder's four stages side by side (the starter files standing in for them)."""
    from dataclasses import replace

    from desktop.core.compare.lineups import lineup_named
    from desktop.core.models.library import Library
    from desktop.core.models.starter import require_starter_paths
    from desktop.core.settings import AppSettings
    from desktop.ui.compare.window import CompareWindow
    from tests.standin_ladder import LADDER_ID, standin_ladder

    assert isinstance(settings, AppSettings)
    cache = Path(os.environ["DUET_HOME"]) / "stand-in-hub"
    os.environ["HF_HUB_CACHE"] = str(cache)  # only the stand-in stages are found there
    catalog = standin_ladder(cache, require_starter_paths())
    models = Library(catalog=catalog).models()
    short = replace(settings, sampling=replace(settings.sampling, max_tokens=48))
    compare = CompareWindow(models, short, (models[0].id, models[1].id), catalog=catalog)
    lineup = lineup_named(catalog, {m.id for m in models}, LADDER_ID)
    assert lineup is not None and compare.apply_lineup(lineup)
    compare.resize(*SIZES[0])
    compare.show()
    compare.input.setPlainText(LADDER)
    compare.run()
    _wait(app, lambda: not compare.busy, 300, "the ladder run")
    _shoot(app, "ladder", "light", compare, SIZES[:1])
    compare.close()


if __name__ == "__main__":
    raise SystemExit(main())
