from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def fresh_settings() -> None:
    from desktop.core.settings import settings_path

    settings_path().unlink(missing_ok=True)


@pytest.fixture
def window(qtbot: object, fresh_settings: None, starter_paths: object) -> Iterator[object]:
    """The real window on the real starter pair, with its model loaded."""
    from desktop.ui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)  # type: ignore[attr-defined]
    win.show()
    wait_loaded(qtbot, win)
    yield win


def wait_loaded(qtbot: object, win: object, timeout: int = 60_000) -> None:
    qtbot.waitUntil(  # type: ignore[attr-defined]
        lambda: win.runtime is not None,
        timeout=timeout,
    )
