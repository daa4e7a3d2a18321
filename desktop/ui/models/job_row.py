"""One download in the Models window's queue: its name, progress bar, status and Cancel."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from desktop.ui.models.downloads import DownloadJob, DownloadQueue
from desktop.ui.models.sizes import human_size


class JobRow(QWidget):
    def __init__(self, job: DownloadJob, queue: DownloadQueue) -> None:
        super().__init__()
        self.job = job
        self.label = QLabel(job.label)
        self.bar = QProgressBar()
        self.bar.setAccessibleName(f"Download progress of {job.label}")
        self.bar.setMaximum(1000)
        self.status = QLabel("queued")
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # it may quote a server's answer
        self.cancel = QToolButton()
        self.cancel.setText("Cancel")
        self.cancel.setAccessibleName(f"Cancel download of {job.label}")
        self.cancel.clicked.connect(lambda: queue.cancel(job))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 2)
        row.addWidget(self.bar, 3)
        row.addWidget(self.status, 3)
        row.addWidget(self.cancel)

    def refresh(self) -> None:
        job, p = self.job, self.job.progress
        if p is not None:
            self.bar.setValue(int(p.fraction * 1000))
        if job.state == "downloading" and p is not None:
            eta = f", {int(p.eta // 60)}:{int(p.eta % 60):02d} left" if p.eta is not None else ""
            self.status.setText(
                f"{human_size(p.done)} of {human_size(p.total)} · {p.rate / 1e6:.1f} MB/s{eta}"
            )
        elif job.state != "downloading":
            self.status.setText(job.message or job.state)
            self.status.setToolTip(job.message)
        self.cancel.setEnabled(job.under_way)
