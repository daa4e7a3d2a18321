from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def fresh_settings() -> None:
    """A returning user's otherwise-default settings: settings.json holds only
    {"welcomed": true}, so the window opens on the workspace, not on the welcome page a first
    start shows (tests/ui/test_welcome.py starts without it)."""
    import json

    from desktop.core.settings import settings_path

    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"welcomed": True}), encoding="utf-8")


@pytest.fixture
def window(qtbot: object, fresh_settings: None, starter_paths: object) -> Iterator[object]:
    """The real window on the real starter pair, with its model loaded."""
    from desktop.ui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)  # type: ignore[attr-defined]
    win.show()
    wait_loaded(qtbot, win)
    yield win


@pytest.fixture
def fake_engines() -> object:
    """The FakeOpener (tests/fakes/opener.py) a `fake_window` makes its engines with; a test
    that builds its own MainWindow passes it as `open_engine=`."""
    from tests.fakes import FakeOpener

    return FakeOpener()


@pytest.fixture
def fake_window(
    qtbot: object, fresh_settings: None, starter_paths: object, fake_engines: object
) -> Iterator[object]:
    """The real window on the real starter pair's files, loaded, with every engine a FakeEngine.

    Everything but the engine is real: the library scan and the picker, each model's metadata
    and chat template (the prompts sent and shown in the inspector are the real renderings),
    the chat session, the history store, the views. The engine is
    `MainWindow(open_engine=fake_engines)`: each model choice, and each reload with a new
    context, makes a new FakeEngine, as the real factory starts a new worker.

    `window.fake_engines` is that FakeOpener:
    - `.replies = [...]`: the next replies, in order, whichever engine answers; then `.reply`
      (a fixed sentence) for every request.
    - `.token_delay`: seconds before each token, for engines made from then on (a stop then
      lands mid-reply); set it before the model is chosen, or on `.engine.token_delay`.
    - `.engine`: the FakeEngine the window runs now (`window.engine`): `fail_next(error)`,
      `crash_next()`, `calls`/`prompts` (what it was sent), `loads`.
    - `.engines`: every engine it made, oldest first.
    Its context (`n_ctx`) is the window's setting, counted in words, the fake's tokens.
    """
    from desktop.ui.main_window import MainWindow

    win = MainWindow(open_engine=fake_engines)  # type: ignore[arg-type]
    win.fake_engines = fake_engines  # type: ignore[attr-defined]
    qtbot.addWidget(win)  # type: ignore[attr-defined]
    win.show()
    wait_loaded(qtbot, win, timeout=20_000)
    yield win


def wait_loaded(qtbot: object, win: object, timeout: int = 60_000) -> None:
    qtbot.waitUntil(  # type: ignore[attr-defined]
        lambda: win.runtime is not None,
        timeout=timeout,
    )


@pytest.fixture
def queue(qtbot: object) -> Iterator[object]:
    """A download queue that ends every download with the test and leaves none to resume."""
    from desktop.core.hub.pending import save_pending
    from desktop.ui.models.downloads import DownloadQueue

    downloads = DownloadQueue()
    yield downloads
    downloads.pause_all()  # no download thread outlives the test
    save_pending([])  # and no later window resumes these


def open_compare(win: object, qtbot: object, max_tokens: int = 24) -> object:
    """The real window's compare window, greedy with a fixed seed and `max_tokens`."""
    from desktop.core.chat.sampling import SamplingParams

    sampling = SamplingParams(max_tokens=max_tokens, seed=4, temperature=0.0)
    win._settings_changed(win.settings.__class__(sampling=sampling))  # type: ignore[attr-defined]
    win.open_compare()  # type: ignore[attr-defined]
    view = win.compare_window  # type: ignore[attr-defined]
    qtbot.addWidget(view)  # type: ignore[attr-defined]
    return view


def done_of(win: object, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every Done the window is handed from now on."""
    seen: list[object] = []
    on_done = win._on_done  # type: ignore[attr-defined]

    def keep(done: object) -> None:
        seen.append(done)
        on_done(done)

    monkeypatch.setattr(win, "_on_done", keep)
    return seen
