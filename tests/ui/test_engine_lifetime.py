"""An engine the window no longer wants ends, even when its load starts late: the window closed,
or another model chosen, before the load thread took the engine. Each would have started a
worker that nothing ends, and reported to a window already gone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.engine import FakeEngine

BASE, INSTRUCT = "gemma-3-270m", "smollm2-135m-instruct"


@pytest.fixture
def late_loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Every FakeEngine.load waits until the test sets the event: the load thread then takes
    its engine after whatever the test did first."""
    go = threading.Event()
    load = FakeEngine.load

    def late(self: FakeEngine) -> Any:
        go.wait(10)
        return load(self)

    monkeypatch.setattr(FakeEngine, "load", late)
    yield go
    go.set()


def test_an_engine_loaded_after_its_window_closed_is_ended(
    qtbot: Any, fresh_settings: None, starter_paths: object, fake_engines: Any, late_loads: Any
) -> None:
    from desktop.ui.main_window import MainWindow

    window = MainWindow(open_engine=fake_engines)
    qtbot.addWidget(window)
    window.close()  # the model chosen at start is loaded by a thread still waiting
    assert fake_engines.engines
    late_loads.set()
    window.threads.wait(5000)
    qtbot.wait(100)  # what the load thread reports is delivered, and ignored
    assert [engine.closed for engine in fake_engines.engines] == [True] * len(fake_engines.engines)


def test_an_engine_replaced_before_its_load_began_is_ended(
    fake_window: Any, qtbot: Any, late_loads: Any
) -> None:
    shown = fake_window.model.id
    fake_window.select_model(BASE if shown == INSTRUCT else INSTRUCT)
    replaced = fake_window.fake_engines.engine  # its load thread waits
    fake_window.select_model(shown)  # chosen again before that load began
    current = fake_window.fake_engines.engine
    assert current is not replaced
    late_loads.set()
    qtbot.waitUntil(lambda: fake_window.runtime is not None, timeout=5000)
    fake_window.threads.wait(5000)
    assert replaced.closed and not current.closed
    assert fake_window.engine is current
