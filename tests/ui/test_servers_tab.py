"""The Servers tab says one thing about a server just added: what its answer turned out to be."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from PySide6.QtWidgets import QTreeWidgetItem

from desktop.ui.models.servers_tab import ServersTab
from desktop.ui.threads import Threads
from tests.remote.hostile import Hostile
from tests.ui.tooltips import HOSTILE, shown


def closed_port() -> int:
    with socket.socket() as probe:  # bound then closed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def added(qtbot, threads: Threads, name: str, url: str) -> tuple[ServersTab, QTreeWidgetItem]:  # type: ignore[no-untyped-def]
    """A Servers tab with the server `name` added as a person would, once its row has heard
    back from the server (its models, or why not)."""
    tab = ServersTab(threads)
    qtbot.addWidget(tab)
    tab.server_name.setText(name)
    tab.server_url.setText(url)
    tab.add_server()
    row = tab.servers_tree.topLevelItem(0)
    qtbot.waitUntil(lambda: row.text(3) != "…", timeout=15_000)
    return tab, row


def test_an_unreachable_server_is_not_said_to_have_models(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))  # this test's own server list
    threads = Threads()
    tab, row = added(qtbot, threads, "gone", f"http://127.0.0.1:{closed_port()}/v1")
    qtbot.waitUntil(lambda: "Asking" not in tab.servers_status.text(), timeout=5_000)
    status = tab.servers_status.text()
    assert "Cannot reach" in row.text(3)
    assert "does not answer" in status and "Cannot reach" in status
    assert "models are in the model picker" not in status
    threads.wait(5000)


def test_a_server_model_named_like_html_is_shown_as_written(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Qt would render a tooltip that looks like HTML as rich text: the server's names are
    shown as it sent them."""
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))
    server = Hostile(model=HOSTILE)
    threads = Threads()
    try:
        _tab, row = added(qtbot, threads, "lab", f"{server.url}/v1")
        assert row.text(3) == HOSTILE
        assert shown(row.toolTip(3)) == HOSTILE
    finally:
        threads.wait(5000)
        server.close()
