"""Limits and failures said plainly in the window (issue 16, bugs 6 and 8): a context below its
minimum is refused with a message, Max tokens above the context is named as the cause, and a
failed download keeps the Models window's width and offers Retry and Dismiss."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop.core.hub import download as dl
from desktop.core.hub.pending import PullTarget
from desktop.core.settings import CONTEXT_RANGE
from desktop.ui.main_window import MainWindow
from desktop.ui.models.downloads import DownloadQueue
from desktop.ui.models.window import ModelsDialog
from tests.fakehub import FakeHub
from tests.ui.conftest import wait_loaded
from tests.ui.tooltips import shown

LOW, HIGH = CONTEXT_RANGE


def type_into(qtbot, spin, text: str) -> None:  # type: ignore[no-untyped-def]
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Backspace)
    qtbot.keyClicks(spin.lineEdit(), text)
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)


# Bug 6: the context length and Max tokens -----------------------------------------------------


def test_the_context_field_shows_its_range(fake_window: MainWindow) -> None:
    context = fake_window.sampling.context
    assert context.minimum() == LOW and context.maximum() == HIGH
    assert str(LOW) in context.toolTip() and str(HIGH) in context.toolTip()


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("100", f"The context length is at least {LOW}, so 100 became {LOW}."),
        ("0", f"The context length is at least {LOW}, so 0 became {LOW}."),
        ("", f"The context length is a whole number from {LOW} to {HIGH}: it is now {LOW}."),
    ],
)
def test_a_context_below_the_minimum_is_refused_and_said(
    fake_window: MainWindow, qtbot, typed: str, said: str
) -> None:
    """Typed below 256, the field holds 256 (what was meant: as small as it goes), never a
    silent return to 4096, and a message under it says the minimum."""
    panel = fake_window.sampling
    type_into(qtbot, panel.context, typed)
    assert panel.context.value() == LOW
    assert fake_window.settings.n_ctx == LOW  # what is shown is what is saved
    note = panel.context_note
    assert note.isVisible() and note.text() == said
    # A value in range afterwards clears the message.
    type_into(qtbot, panel.context, "2048")
    assert panel.context.value() == 2048 and not note.isVisible()


def test_max_tokens_above_the_context_is_named_as_the_cause(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    type_into(qtbot, window.sampling.spins["max_tokens"], "2000")
    type_into(qtbot, window.sampling.context, str(LOW))
    assert window.settings.n_ctx == LOW and window.settings.sampling.max_tokens == 2000
    window.select_model("gemma-3-270m")  # the context applies when a model is next loaded
    wait_loaded(qtbot, window)
    qtbot.waitUntil(lambda: window.engine.load().n_ctx == LOW, timeout=5_000)
    window.send_chat("Hello there")
    qtbot.waitUntil(lambda: not window.busy, timeout=10_000)
    message = window.error_bar.message
    assert message.startswith(
        f"Max tokens (2000) is more than the context holds ({LOW}): lower Max tokens or "
        "raise the context length"
    ), message
    assert "-1744" not in message


# Bug 8: a failed download ---------------------------------------------------------------------

# A name as long as real ones get, so the failure's message is long too.
REPO = "some-organisation/Meta-Llama-3.1-8B-Instruct-abliterated-uncensored-GGUF"
FILE = "Meta-Llama-3.1-8B-Instruct-abliterated-uncensored.Q4_K_M.gguf"


@pytest.fixture
def dialog(queue: DownloadQueue, qtbot) -> ModelsDialog:  # type: ignore[no-untyped-def]
    window = ModelsDialog(queue)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def failed(
    queue: DownloadQueue,
    dialog: ModelsDialog,
    fake_hub: FakeHub,
    qtbot,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[PullTarget, int]:
    """A download that failed on a server answering 500 to every try; (its target, the
    dialog's width before it failed)."""
    monkeypatch.setattr(dl, "_RETRY_DELAYS", (0.01,) * len(dl._RETRY_DELAYS))
    fake_hub.add_repo(REPO, {FILE: b"\1" * (1 << 20)})
    target = PullTarget(REPO, (FILE,), 1 << 20, "Q4_K_M")
    width = dialog.width()
    fake_hub.malformed = "status"
    job = queue.enqueue(target, FILE)
    qtbot.waitUntil(lambda: job.state != "downloading", timeout=20_000)
    assert job.state == "failed", job.message
    fake_hub.malformed = None
    qtbot.wait(50)  # the window lays the failed row out
    return target, width


def test_a_failed_download_does_not_widen_the_models_window(
    dialog: ModelsDialog, queue: DownloadQueue, failed: tuple[PullTarget, int]
) -> None:
    _target, width = failed
    job = queue.jobs[0]
    row = dialog.rows[job.id]
    assert len(job.message) > 100  # long enough that an unwrapped label would widen the row
    assert dialog.width() == width <= 1024
    assert dialog.minimumSizeHint().width() <= 1024 and dialog.minimumWidth() <= 1024
    assert shown(row.status.toolTip()) == job.message  # the whole message, however it is shown
    assert row.status.text() == job.message  # wrapped, not cut
    assert row.geometry().right() <= dialog.width()


def test_a_failed_download_offers_retry_which_queues_it_again(
    dialog: ModelsDialog,
    queue: DownloadQueue,
    failed: tuple[PullTarget, int],
    qtbot,  # type: ignore[no-untyped-def]
) -> None:
    job = queue.jobs[0]
    row = dialog.rows[job.id]
    assert row.retry.isVisible() and row.retry.isEnabled()
    assert row.dismiss.isVisible() and not row.cancel.isVisible()
    qtbot.mouseClick(row.retry, Qt.MouseButton.LeftButton)
    assert job.state in ("queued", "downloading") and queue.jobs == [job]
    assert not row.retry.isVisible() and row.cancel.isVisible() and row.cancel.isEnabled()
    qtbot.waitUntil(lambda: job.state == "done", timeout=20_000)
    assert dialog.rows[job.id] is row and row.status.text() == "Downloaded and verified."
    assert not row.retry.isVisible()  # nothing to retry; it can still be dismissed
    assert row.dismiss.isVisible()


def test_a_failed_download_offers_dismiss_which_removes_its_row(
    dialog: ModelsDialog,
    queue: DownloadQueue,
    failed: tuple[PullTarget, int],
    qtbot,  # type: ignore[no-untyped-def]
) -> None:
    job = queue.jobs[0]
    row = dialog.rows[job.id]
    assert not dialog.queue_empty.isVisible()
    qtbot.mouseClick(row.dismiss, Qt.MouseButton.LeftButton)
    assert queue.jobs == [] and job.id not in dialog.rows
    qtbot.waitUntil(lambda: dialog.findChildren(type(row)) == [], timeout=2_000)
    assert dialog.queue_empty.isVisible()
    # Dismissed for good: a Models window opened later does not list it again.
    again = ModelsDialog(queue)
    qtbot.addWidget(again)
    assert again.rows == {}


def test_a_running_download_offers_cancel_only(
    dialog: ModelsDialog,
    queue: DownloadQueue,
    fake_hub: FakeHub,
    qtbot,  # type: ignore[no-untyped-def]
) -> None:
    fake_hub.add_repo(REPO, {FILE: b"\1" * (1 << 20)})
    fake_hub.hang.add("GET /cdn/")
    job = queue.enqueue(PullTarget(REPO, (FILE,), 1 << 20, "Q4_K_M"), FILE)
    qtbot.waitUntil(lambda: bool(fake_hub.cdn_requests()), timeout=20_000)
    row = dialog.rows[job.id]
    assert row.cancel.isVisible() and row.cancel.isEnabled()
    assert not row.retry.isVisible() and not row.dismiss.isVisible()
