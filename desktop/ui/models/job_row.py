"""One download in the Models window's queue: its name, progress bar and status, with Cancel
while it runs, Retry once it failed or was cancelled, and Dismiss once it ended.

A row never makes the window wider than it is: the name is elided and the status wraps under
the bar, each with its whole text in the tooltip, because a server's error can be long."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.models.downloads import DownloadJob, DownloadQueue
from desktop.ui.models.sizes import human_size
from desktop.ui.plain_tips import plain_tip

_RETRYABLE = ("failed", "cancelled", "paused")


class _ElidedLabel(QLabel):
    """One line of plain text, cut with "…" to the width it is given, whole in the tooltip."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.setTextFormat(Qt.TextFormat.PlainText)
        # Ignored: the label takes the width the row gives it, never asks for its text's width.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.full_text = text
        self.setToolTip(plain_tip(text))
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        self.setText(
            self.fontMetrics().elidedText(
                self.full_text, Qt.TextElideMode.ElideMiddle, max(self.width(), 40)
            )
        )


class JobRow(QWidget):
    def __init__(self, job: DownloadJob, queue: DownloadQueue) -> None:
        super().__init__()
        self.job = job
        self.label = _ElidedLabel(job.label)
        self.bar = QProgressBar()
        self.bar.setAccessibleName(f"Download progress of {job.label}")
        self.bar.setMaximum(1000)
        self.status = QLabel("queued")
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # it may quote a server's answer
        self.status.setWordWrap(True)
        # Wrapped to the row's width, never widening it (a long word is cut; the tooltip has all).
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setAccessibleName(f"Download status of {job.label}")
        self.cancel = self._button("Cancel", f"Cancel download of {job.label}")
        self.cancel.clicked.connect(lambda: queue.cancel(job))
        self.retry = self._button("Retry", f"Retry download of {job.label}")
        self.retry.setToolTip(
            "Queue this download again (a failed one continues from the bytes it kept)"
        )
        self.retry.clicked.connect(lambda: queue.retry(job))
        self.dismiss = self._button("Dismiss", f"Dismiss download of {job.label}")
        self.dismiss.setToolTip("Remove this download from the list")
        self.dismiss.clicked.connect(lambda: queue.dismiss(job))
        top = QHBoxLayout()
        top.addWidget(self.label, 2)
        top.addWidget(self.bar, 3)
        for button in (self.cancel, self.retry, self.dismiss):
            top.addWidget(button)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addLayout(top)
        column.addWidget(self.status)

    def _button(self, text: str, name: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setAccessibleName(name)
        return button

    def refresh(self) -> None:
        job, p = self.job, self.job.progress
        self.bar.setValue(int(p.fraction * 1000) if p is not None else 0)
        if job.state == "downloading" and p is not None:
            eta = f", {int(p.eta // 60)}:{int(p.eta % 60):02d} left" if p.eta is not None else ""
            text = f"{human_size(p.done)} of {human_size(p.total)} · {p.rate / 1e6:.1f} MB/s{eta}"
        else:
            text = job.message or job.state
        self.status.setText(text)
        self.status.setToolTip(plain_tip(text))
        self.cancel.setVisible(job.under_way)
        self.cancel.setEnabled(job.under_way)
        self.retry.setVisible(job.state in _RETRYABLE)
        self.dismiss.setVisible(not job.under_way)
