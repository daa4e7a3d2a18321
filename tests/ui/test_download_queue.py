"""The window's download queue against a hostile fake Hub: whatever the download thread meets,
its row ends failed with the reason shown, the job can be queued again, and closing Duet does
not wait for a server that never answers (issue 11, findings 6 and 7, and the thread boundary)."""

from __future__ import annotations

import time

import pytest

from desktop.core.hub import download as dl
from desktop.core.hub.pending import PullTarget, load_pending
from desktop.ui.models.downloads import DownloadQueue
from desktop.ui.models.window import ModelsDialog
from tests.fakehub import FakeHub


@pytest.fixture
def dialog(queue: DownloadQueue, qtbot) -> ModelsDialog:  # type: ignore[no-untyped-def]
    window = ModelsDialog(queue)
    qtbot.addWidget(window)
    return window


def target(fake_hub: FakeHub, repo_id: str) -> PullTarget:
    fake_hub.add_repo(repo_id, {"m.Q4_K_M.gguf": b"\1" * (1 << 20)})
    return PullTarget(repo_id, ("m.Q4_K_M.gguf",), 1 << 20, "Q4_K_M")


def test_a_malformed_answer_fails_the_row_and_the_job_can_be_queued_again(
    queue: DownloadQueue,
    dialog: ModelsDialog,
    fake_hub: FakeHub,
    qtbot,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dl, "_RETRY_DELAYS", (0.01,) * len(dl._RETRY_DELAYS))
    pull = target(fake_hub, "org/Broken-GGUF")
    fake_hub.malformed = "status"
    job = queue.enqueue(pull, "m.Q4_K_M.gguf")
    qtbot.waitUntil(lambda: job.state != "downloading", timeout=20_000)
    assert job.state == "failed" and "kept failing" in job.message
    assert "kept failing" in dialog.rows[job.id].status.text()
    fake_hub.malformed = None
    again = queue.enqueue(pull, "m.Q4_K_M.gguf")
    assert again is not job
    qtbot.waitUntil(lambda: again.state == "done", timeout=20_000)


def test_an_unexpected_error_in_the_download_thread_is_a_failed_row_with_its_text(
    queue: DownloadQueue,
    dialog: ModelsDialog,
    fake_hub: FakeHub,
    qtbot,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise KeyError("a case nobody foresaw")

    monkeypatch.setattr("desktop.core.hub.pull.pull", broken)
    job = queue.enqueue(target(fake_hub, "org/Bug-GGUF"), "m.Q4_K_M.gguf")
    qtbot.waitUntil(lambda: job.state != "downloading", timeout=20_000)
    assert job.state == "failed"
    assert "KeyError" in job.message and "a case nobody foresaw" in job.message
    assert "a case nobody foresaw" in dialog.rows[job.id].status.text()
    assert dialog.rows[job.id].cancel.isEnabled() is False
    assert queue.enqueue(job.target, job.label) is not job  # it can be queued again


def test_closing_duet_does_not_wait_for_a_server_that_never_answers(
    queue: DownloadQueue,
    fake_hub: FakeHub,
    qtbot,  # type: ignore[no-untyped-def]
) -> None:
    pull = target(fake_hub, "org/Silent-GGUF")
    fake_hub.hang.add("GET /cdn/")
    job = queue.enqueue(pull, "m.Q4_K_M.gguf")
    qtbot.waitUntil(lambda: bool(fake_hub.cdn_requests()), timeout=20_000)
    started = time.monotonic()
    queue.pause_all()
    assert time.monotonic() - started < 2.0
    qtbot.waitUntil(lambda: job.state == "paused", timeout=5_000)
    assert load_pending() == [pull]  # continued at the next start
