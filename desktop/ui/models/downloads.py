"""The download queue: one download at a time, off the UI thread, each cancellable. It belongs
to the main window, so downloads go on while the Models window is closed.

Whatever the download thread meets, its job ends in a state a person can see and act on:
an unexpected exception becomes a failed row with its text, never a row stuck "downloading";
a job that ended can be retried (the same job, queued again) or dismissed (gone from the list)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import QObject, QThread, Signal

from desktop.core.errors import DownloadCancelled, DownloadPaused, DuetError
from desktop.core.hub.pending import PullTarget, load_pending, save_pending
from desktop.ui.threads import unexpected

if TYPE_CHECKING:
    from desktop.core.hub.download import CancelToken, DownloadProgress

_ids = count(1)

# "paused": Duet closed while it was queued or downloading; the next start continues it.
JobState = Literal["queued", "downloading", "done", "failed", "cancelled", "paused"]


@dataclass
class DownloadJob:
    target: PullTarget
    label: str
    id: int = field(default_factory=lambda: next(_ids))
    state: JobState = "queued"
    progress: DownloadProgress | None = None
    message: str = ""
    path: Path | None = None
    cancel: CancelToken = field(default_factory=lambda: _new_token())

    @property
    def under_way(self) -> bool:
        """Queued or downloading: not ended, and not paused for the next start."""
        return self.state in ("queued", "downloading")


def _new_token() -> CancelToken:
    # The Hub client loads on the first download, not when the window starts.
    from desktop.core.hub.download import CancelToken

    return CancelToken()


class _Worker(QThread):
    progressed = Signal(object)  # DownloadProgress
    succeeded = Signal(object)  # Path
    failed = Signal(str, bool)  # message, cancelled

    def __init__(self, job: DownloadJob, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.job = job

    def run(self) -> None:
        from desktop.core.hub.pull import pull

        try:
            path, _ = pull(self.job.target, progress=self.progressed.emit, cancel=self.job.cancel)
        except DownloadPaused as exc:
            self.failed.emit(str(exc), True)
        except DownloadCancelled as exc:
            self.failed.emit(str(exc), True)
        except DuetError as exc:
            self.failed.emit(str(exc), False)
        except Exception as exc:  # a bug or a case nobody foresaw: say it, log the traceback
            self.failed.emit(unexpected(exc), False)
        else:
            self.succeeded.emit(path)


class DownloadQueue(QObject):
    added = Signal(object)  # DownloadJob
    changed = Signal(object)  # DownloadJob: state or progress
    finished = Signal(object)  # DownloadJob, successfully
    removed = Signal(object)  # DownloadJob, dismissed

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs: list[DownloadJob] = []
        self._worker: _Worker | None = None

    def enqueue(self, target: PullTarget, label: str) -> DownloadJob:
        for job in self.jobs:
            if job.target == target and job.under_way:
                return job  # already on its way
        job = DownloadJob(target, label)
        self.jobs.append(job)
        self.added.emit(job)
        self._next()
        return job

    def cancel(self, job: DownloadJob) -> None:
        if job.state == "queued":
            job.state, job.message = "cancelled", "Cancelled before it started."
            self.changed.emit(job)
        elif job.state == "downloading":
            job.cancel.cancel()  # the worker stops at the next chunk and reports

    def retry(self, job: DownloadJob) -> DownloadJob:
        """Queue a failed, cancelled or paused job again, as the same job, so its row stays
        and shows the new try. If the same file is already on its way in another job, that
        one is the download: this one is dismissed, and the other returned."""
        if job.under_way or job.state == "done" or not self._holds(job):
            return job
        if (other := self.active(job.target)) is not None:
            self.dismiss(job)
            return other
        # A fresh token: the old one is cancelled or paused, and would stop the new try at once.
        job.state, job.message, job.progress = "queued", "", None
        job.cancel = _new_token()
        self.changed.emit(job)
        self._next()
        return job

    def dismiss(self, job: DownloadJob) -> None:
        """Forget a job that ended (a running one is cancelled first, with Cancel)."""
        if job.under_way or not self._holds(job):
            return
        self.jobs = [j for j in self.jobs if j is not job]
        self.removed.emit(job)

    def _holds(self, job: DownloadJob) -> bool:
        return any(j is job for j in self.jobs)

    def active(self, target: PullTarget) -> DownloadJob | None:
        return next(
            (j for j in self.jobs if j.target == target and j.under_way),
            None,
        )

    def pause_all(self) -> None:
        """Duet is closing: stop the running download keeping its partial file, and remember
        every unfinished one, so the next start continues them."""
        unfinished = [j for j in self.jobs if j.under_way]
        save_pending([j.target for j in unfinished])
        for job in unfinished:
            job.cancel.pause()
            if job.state == "queued":
                job.state = "paused"
        if self._worker is not None:
            # A paused download stops within a second in every state (core.download); the
            # longer bound only keeps a thread from being destroyed while it runs.
            self._worker.wait(10_000)

    def resume_saved(self) -> list[DownloadJob]:
        """Continue the downloads that were under way when Duet last closed."""
        targets = load_pending()
        save_pending([])
        return [self.enqueue(t, t.filename) for t in targets]

    def _next(self) -> None:
        if self._worker is not None:
            return
        job = next((j for j in self.jobs if j.state == "queued"), None)
        if job is None:
            return
        job.state = "downloading"
        worker = _Worker(job, self)
        worker.progressed.connect(lambda p, job=job: self._progress(job, p))
        worker.succeeded.connect(lambda path, job=job: self._done(job, path))
        worker.failed.connect(
            lambda message, cancelled, job=job: self._failed(job, message, cancelled)
        )
        worker.finished.connect(self._worker_ended)
        self._worker = worker
        self.changed.emit(job)
        worker.start()

    def _progress(self, job: DownloadJob, progress: DownloadProgress) -> None:
        job.progress = progress
        self.changed.emit(job)

    def _done(self, job: DownloadJob, path: Path) -> None:
        job.state, job.path, job.message = "done", path, "Downloaded and verified."
        self.changed.emit(job)
        self.finished.emit(job)

    def _failed(self, job: DownloadJob, message: str, cancelled: bool) -> None:
        state: JobState = (
            "paused" if job.cancel.keep_partial else "cancelled" if cancelled else "failed"
        )
        job.state, job.message = state, message
        self.changed.emit(job)

    def _worker_ended(self) -> None:
        self._worker = None
        if not any(j.cancel.keep_partial for j in self.jobs):
            self._next()
