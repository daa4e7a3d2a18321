"""The Servers tab says one thing about a server just added: what its answer turned out to be."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from desktop.ui.models.servers_tab import ServersTab
from desktop.ui.threads import Threads


def closed_port() -> int:
    with socket.socket() as probe:  # bound then closed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_server_is_not_said_to_have_models(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))  # this test's own server list
    threads = Threads()
    tab = ServersTab(threads)
    qtbot.addWidget(tab)
    tab.server_name.setText("gone")
    tab.server_url.setText(f"http://127.0.0.1:{closed_port()}/v1")
    tab.add_server()
    row = tab.servers_tree.topLevelItem(0)
    qtbot.waitUntil(lambda: row.text(3) != "…", timeout=15_000)
    qtbot.waitUntil(lambda: "Asking" not in tab.servers_status.text(), timeout=5_000)
    status = tab.servers_status.text()
    assert "Cannot reach" in row.text(3)
    assert "does not answer" in status and "Cannot reach" in status
    assert "models are in the model picker" not in status
    threads.wait(5000)
