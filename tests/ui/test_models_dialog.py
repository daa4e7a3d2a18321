"""The Models window, driven with qtbot, downloading from the local fake Hub."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from desktop.core.hub import download as dl
from desktop.ui.main_window import MainWindow
from tests.fakehub import FakeHub
from tests.ggufs import write_gguf
from tests.ui.conftest import wait_loaded

pytestmark = pytest.mark.slow


@pytest.fixture
def models(window: MainWindow, qtbot):
    window.open_models()
    dialog = window.models_dialog
    assert dialog is not None
    qtbot.waitExposed(dialog)
    # The installed models are listed in a worker thread.
    qtbot.waitUntil(
        lambda: dialog.installed_tab.installed_tree.topLevelItemCount() >= 2, timeout=20_000
    )
    return dialog


def test_catalog_lists_the_pairs_with_the_starter_installed(models) -> None:
    tree = models.catalog_tab.catalog_tree
    assert tree.topLevelItemCount() >= 9
    starter = tree.topLevelItem(0)
    assert "offline starter pair" in starter.text(0)
    assert [starter.child(i).text(5) for i in range(2)] == ["installed", "installed"]
    kinds = {tree.topLevelItem(i).child(0).text(1) for i in range(tree.topLevelItemCount())}
    assert kinds == {"base"}
    assert all(
        tree.topLevelItem(i).child(1).text(1) == "instruct" for i in range(tree.topLevelItemCount())
    )
    assert "fits" in tree.topLevelItem(1).child(0).text(4)


def test_search_list_download_and_use(
    window: MainWindow, models, fake_hub: FakeHub, instruct_path: Path, qtbot
) -> None:
    fake_hub.add_repo(
        "org/Smol-Instruct-GGUF",
        {"smol-instruct.Q4_1.gguf": instruct_path},
        downloads=7,
        tags=["gguf", "conversational"],
    )
    models.tabs.setCurrentIndex(1)
    qtbot.keyClicks(models.search_tab.search_box, "smol")
    qtbot.keyClick(models.search_tab.search_box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: models.search_tab.results.topLevelItemCount() == 1, timeout=20_000)
    assert models.search_tab.results.topLevelItem(0).text(1) == "instruct"
    models.search_tab.results.setCurrentItem(models.search_tab.results.topLevelItem(0))
    qtbot.waitUntil(lambda: models.search_tab.files.topLevelItemCount() == 1, timeout=20_000)
    row = models.search_tab.files.topLevelItem(0)
    qtbot.waitUntil(
        lambda: "KV estimated" not in row.text(3), timeout=20_000
    )  # read from its header
    assert (row.text(1), row.text(3).split()[0]) == ("Q4_1", "fits")
    row.setSelected(True)
    models.search_tab.download_file_selection()
    qtbot.waitUntil(
        lambda: window.downloads.jobs and window.downloads.jobs[-1].state == "done", timeout=60_000
    )
    job_row = models.rows[window.downloads.jobs[-1].id]
    assert job_row.bar.value() == 1000 and "verified" in job_row.status.text()
    # The main window lists it and can run it.
    qtbot.waitUntil(
        lambda: any(m.id == "smol-instruct.q4_1" for m in window.models), timeout=20_000
    )
    window.select_model("smol-instruct.q4_1")
    wait_loaded(qtbot, window)
    window.send_chat("Hi")
    qtbot.waitUntil(lambda: not window.busy, timeout=60_000)
    assert window.conversation.messages[-1].role == "assistant"


def test_cancel_a_download_leaves_nothing(
    window: MainWindow, models, fake_hub: FakeHub, qtbot
) -> None:
    fake_hub.add_repo("org/Slow-GGUF", {"slow.Q4_K_M.gguf": b"\1" * (6 << 20)})
    fake_hub.delay_per_chunk = 0.02
    models.tabs.setCurrentIndex(1)
    models.search_tab.search_box.setText("slow")
    models.search_tab.run_search()
    qtbot.waitUntil(lambda: models.search_tab.results.topLevelItemCount() == 1, timeout=20_000)
    models.search_tab.list_repo("org/Slow-GGUF")
    qtbot.waitUntil(lambda: models.search_tab.files.topLevelItemCount() == 1, timeout=20_000)
    models.search_tab.files.topLevelItem(0).setSelected(True)
    models.search_tab.download_file_selection()
    job = window.downloads.jobs[-1]
    qtbot.waitUntil(lambda: job.progress is not None and job.progress.done > 0, timeout=20_000)
    qtbot.mouseClick(models.rows[job.id].cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job.state == "cancelled", timeout=20_000)
    assert "nothing was kept" in models.rows[job.id].status.text()
    assert dl.cached_path("org/Slow-GGUF", "slow.Q4_K_M.gguf") is None
    assert not list(dl.partial_dir().glob("*Slow-GGUF*.partial"))


def test_closing_duet_pauses_and_the_next_start_resumes(
    window: MainWindow, models, fake_hub: FakeHub, qtbot, tmp_path: Path
) -> None:
    data = bytes(range(256)) * (24 << 12)  # 6 MB
    fake_hub.add_repo("org/Resume-GGUF", {"resume.Q4_K_M.gguf": data})
    fake_hub.delay_per_chunk = 0.02
    models.search_tab.files.clear()
    models.search_tab.list_repo("org/Resume-GGUF")
    qtbot.waitUntil(lambda: models.search_tab.files.topLevelItemCount() == 1, timeout=20_000)
    models.search_tab.files.topLevelItem(0).setSelected(True)
    models.search_tab.download_file_selection()
    job = window.downloads.jobs[-1]
    qtbot.waitUntil(
        lambda: job.progress is not None and job.progress.done > 1 << 20, timeout=20_000
    )
    window.close()  # Duet quits mid-download
    partial = next(dl.partial_dir().glob("*Resume-GGUF*.partial"))
    kept = partial.stat().st_size
    assert 0 < kept < len(data)
    fake_hub.delay_per_chunk = 0.0
    again = MainWindow()
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: bool(again.downloads.jobs), timeout=10_000)
    qtbot.waitUntil(
        lambda: again.downloads.jobs[0].state not in ("queued", "downloading"), timeout=60_000
    )
    qtbot.waitUntil(
        lambda: bool(again.downloads.jobs) and again.downloads.jobs[0].state == "done",
        timeout=60_000,
    )
    assert fake_hub.file_requests("resume.Q4_K_M.gguf")[-1].range == f"bytes={kept}-"
    assert dl.cached_path("org/Resume-GGUF", "resume.Q4_K_M.gguf").read_bytes() == data


def test_import_by_drop_shows_metadata_and_delete_asks_first(
    models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qtbot
) -> None:
    path = write_gguf(
        tmp_path / "Dropped-Chat.gguf", chat_template="{{ messages }}", name="Dropped"
    )
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"nope")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)), QUrl.fromLocalFile(str(bad))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    models.dropEvent(event)
    current = models.installed_tab.installed_tree.currentItem
    qtbot.waitUntil(lambda: current() is not None, timeout=20_000)  # read off the UI thread
    assert models.tabs.currentIndex() == 2
    assert current().text(0) == "dropped-chat"
    details = models.installed_tab.details.text()
    assert "Chat template</b>&nbsp;</td><td>yes" in details and "llama" in details
    assert "bad.gguf is not a GGUF model file" in models.installed_tab.installed_error.text()

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    models.installed_tab.delete_selected()
    assert models.installed_tab.installed_tree.currentItem().text(0) == "dropped-chat"  # kept
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    models.installed_tab.delete_selected()

    def names() -> list[str]:
        tree = models.installed_tab.installed_tree
        return [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]

    qtbot.waitUntil(lambda: "dropped-chat" not in names(), timeout=20_000)
    assert path.is_file()  # an imported file is only forgotten, never deleted
    shutil.rmtree(tmp_path, ignore_errors=True)
