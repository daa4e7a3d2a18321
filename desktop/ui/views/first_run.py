"""The welcome page, shown when no model is installed. Three ways to a first model, none
needing pip: download the starter pair from the Hugging Face Hub (sizes shown), import a .gguf
file already on disk, or point at a folder of GGUFs (another tool's Hugging Face cache, a USB
stick). With the Hub unreachable the page says so in one line and the other two ways stay.
Below them, the guided experiments the pair is for, found afterwards in the Try this menu."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import DuetError, UnexpectedError
from desktop.core.experiments import EXPERIMENTS
from desktop.core.models.starter import FolderImport, import_folder, starter_downloads
from desktop.ui.plain_tips import plain_tip

if TYPE_CHECKING:
    from desktop.ui.models.downloads import DownloadJob, DownloadQueue


def _mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


def _report(line: str) -> None:
    # The frozen app's tests read what the page offers from stderr (DUET_PRINT_STARTUP).
    if os.environ.get("DUET_PRINT_STARTUP"):
        print(f"first-run page: {line}", file=sys.stderr, flush=True)


class FirstRunPage(QWidget):
    installed = Signal()  # models were added: the window looks again
    add_file = Signal()  # the window's own "Add a GGUF file" dialog
    open_models = Signal()
    check_again = Signal()
    _hub_checked = Signal(str)  # "" when reachable, else why not (from a worker thread)
    _folder_done = Signal(object)  # FolderImport or an error message

    def __init__(
        self, downloads: DownloadQueue | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.downloads = downloads
        self.starter = starter_downloads()
        self.jobs: list[DownloadJob] = []
        self.hub_reachable: bool | None = None  # None: not checked yet
        total = sum(target.size for _, target in self.starter)

        title = QLabel("<h2>Welcome to Duet</h2>")
        body = QLabel(
            "Duet shows what instruction tuning does to a language model, running a base and "
            "an instruct model side by side on this machine, offline once they are here. No "
            "models are installed yet: start with the starter pair, a base and an instruct "
            "model small enough for any laptop, or use GGUF files you already have."
        )
        body.setWordWrap(True)

        self.download_button = QPushButton(f"Download the starter pair ({_mb(total)})")
        self.download_button.setAccessibleName("Download the starter pair from the Hub")
        self.download_button.clicked.connect(self.download_starter)
        sources = " and ".join(
            f"{m.id} ({_mb(t.size)}, <code>{t.repo_id}</code>)" for m, t in self.starter
        )
        download_note = QLabel(f"From the Hugging Face Hub: {sources}.")
        download_note.setWordWrap(True)
        download_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.file_button = QPushButton("Import a .gguf file…")
        self.file_button.setAccessibleName("Import a GGUF file from this computer")
        self.file_button.clicked.connect(self.add_file)
        file_note = QLabel("A model file already on this computer; it stays where it is.")
        file_note.setWordWrap(True)

        self.folder_button = QPushButton("Add a folder of GGUFs…")
        self.folder_button.setAccessibleName("Add every GGUF model in a folder")
        self.folder_button.clicked.connect(self.choose_folder)
        folder_note = QLabel(
            "Another tool's Hugging Face cache (~/.cache/huggingface/hub), a USB stick: every "
            ".gguf in it is added where it is, nothing is copied."
        )
        folder_note.setWordWrap(True)

        # Each way: its button, and under it what it does (the page sits between the docks, so
        # the notes get the full width rather than a narrow column).
        choices = QVBoxLayout()
        for button, note in (
            (self.download_button, download_note),
            (self.file_button, file_note),
            (self.folder_button, folder_note),
        ):
            choices.addWidget(button, 0, Qt.AlignmentFlag.AlignLeft)
            choices.addWidget(note)
            choices.addSpacing(6)

        # One line: whether the Hub can be reached, then what a download or import is doing.
        self.hub_line = QLabel("")
        self.hub_line.setTextFormat(Qt.TextFormat.PlainText)  # errors quote files and servers
        self.hub_line.setWordWrap(True)  # one sentence; wrapped rather than widening the window
        self.hub_line.setAccessibleName("Hub status")
        self.hub_line.hide()
        self.status = QLabel("")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        self.status.setAccessibleName("First-run status")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.hide()

        browse = QPushButton("Browse models…")
        browse.setAccessibleName("Open the model manager")
        browse.clicked.connect(self.open_models)
        self.again_button = QPushButton("Check again")
        self.again_button.clicked.connect(self._again)
        # What the pair is for: each experiment runs in one click from the Try this menu.
        self.experiments = QLabel(
            "<b>Then try this</b> (each in one click from the <i>Try this</i> menu, and "
            "<i>Help › What is the difference?</i> explains what you see):<ul>"
            + "".join(f"<li>{escape(e.title)}</li>" for e in EXPERIMENTS)
            + "</ul>"
        )
        self.experiments.setTextFormat(Qt.TextFormat.RichText)
        self.experiments.setWordWrap(True)
        self.experiments.setAccessibleName("Guided experiments")
        self.experiments.setToolTip("\n\n".join(f"{e.title}: {e.look_for}" for e in EXPERIMENTS))

        more = QHBoxLayout()
        more.addWidget(browse)
        more.addWidget(self.again_button)
        more.addStretch(1)

        column = QVBoxLayout(self)
        column.setContentsMargins(40, 20, 40, 20)
        column.addStretch(1)
        column.addWidget(title)
        column.addWidget(body)
        column.addSpacing(8)
        column.addLayout(choices)
        column.addWidget(self.hub_line)
        column.addWidget(self.status)
        column.addSpacing(8)
        column.addLayout(more)
        column.addSpacing(8)
        column.addWidget(self.experiments)
        column.addStretch(1)

        self._hub_checked.connect(self._show_hub)
        self._folder_done.connect(self._folder_imported)
        if downloads is not None:
            downloads.changed.connect(self._job_changed)
        else:  # no queue to download with (a page on its own)
            self.download_button.setEnabled(False)

    # The Hub -------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.hub_reachable is None:
            self.check_hub()

    def check_hub(self) -> None:
        """Ask whether the Hub answers, off the UI thread (a dead network takes seconds)."""
        threading.Thread(target=self._probe, name="hub-check", daemon=True).start()

    def _probe(self) -> None:
        try:
            from desktop.core.hub.api import require_online  # loads the Hub client: not at start

            require_online()
            reason = ""
        except DuetError as exc:
            reason = str(exc)
        except Exception as exc:  # a bug must not leave the page waiting
            reason = str(UnexpectedError.wrapping(exc))
        with contextlib.suppress(RuntimeError):  # the page was closed meanwhile
            self._hub_checked.emit(reason)

    def _show_hub(self, reason: str) -> None:
        self.hub_reachable = not reason
        busy = any(j.under_way for j in self.jobs)
        self.download_button.setEnabled(
            self.hub_reachable and self.downloads is not None and not busy
        )
        if reason:
            self.hub_line.setText(
                "The Hugging Face Hub cannot be reached, so the starter pair cannot be "
                "downloaded now: import a file or a folder instead."
            )
            self.hub_line.setToolTip(plain_tip(reason))
            self.hub_line.show()
            _report("Hub unreachable; offered: import a .gguf file, add a folder of GGUFs")
        else:
            self.hub_line.hide()
            _report(
                "Hub reachable; offered: download the starter pair, import a .gguf file, "
                "add a folder of GGUFs"
            )

    def _again(self) -> None:
        self.check_hub()
        self.check_again.emit()

    # Downloading the starter pair ---------------------------------------------------------

    def download_starter(self) -> None:
        if self.downloads is None:
            return
        self.download_button.setEnabled(False)
        self.jobs = [self.downloads.enqueue(target, target.filename) for _, target in self.starter]
        self._show_progress()

    def _job_changed(self, job: DownloadJob) -> None:
        if any(j is job for j in self.jobs):
            self._show_progress()

    def _show_progress(self) -> None:
        failed = [j for j in self.jobs if j.state in ("failed", "cancelled")]
        if failed:
            self._say(f"{failed[0].label}: {failed[0].message}")
            self.download_button.setEnabled(bool(self.hub_reachable))
            return
        if self.jobs and all(j.state == "done" for j in self.jobs):
            self._say("The starter pair is downloaded and verified.")
            self.installed.emit()
            return
        parts = []
        for job in self.jobs:
            if job.state == "done":
                parts.append(f"{job.label} done")
            elif job.progress is not None:
                parts.append(f"{job.label} {_mb(job.progress.done)} / {_mb(job.progress.total)}")
            else:
                parts.append(f"{job.label} {job.state}")
        self._say("Downloading: " + " · ".join(parts))

    # A folder of GGUFs -----------------------------------------------------------------------

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "A folder with GGUF models", str(Path.home())
        )
        if folder:
            self.add_folder(Path(folder))

    def add_folder(self, folder: Path) -> None:
        """Search and register off the UI thread: a USB stick can be slow."""
        self.folder_button.setEnabled(False)
        self._say(f"Looking for GGUF files in {folder}…")
        threading.Thread(
            target=self._import, args=(folder,), name="folder-import", daemon=True
        ).start()

    def _import(self, folder: Path) -> None:
        result: FolderImport | str
        try:
            result = import_folder(folder)
        except DuetError as exc:
            result = str(exc)
        except Exception as exc:
            result = str(UnexpectedError.wrapping(exc))
        with contextlib.suppress(RuntimeError):  # the page was closed meanwhile
            self._folder_done.emit(result)

    def _folder_imported(self, result: FolderImport | str) -> None:
        self.folder_button.setEnabled(True)
        self._say(result if isinstance(result, str) else result.summary())
        if isinstance(result, FolderImport) and result.added:
            self.installed.emit()

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.status.show()
