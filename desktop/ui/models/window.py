"""The Models window's shell: its four tabs (Catalog, Search the Hub, Installed, Servers), the
download queue below them, and what they share: the installed list, drag and drop of .gguf
files, and `models_changed` for the main window's model picker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDialog, QLabel, QTabWidget, QVBoxLayout, QWidget

from desktop.core.models.library import InstalledModel, Library
from desktop.ui.models.catalog_tab import CatalogTab
from desktop.ui.models.downloads import DownloadJob, DownloadQueue
from desktop.ui.models.installed_tab import InstalledTab
from desktop.ui.models.job_row import JobRow
from desktop.ui.models.search_tab import SearchTab
from desktop.ui.models.servers_tab import ServersTab
from desktop.ui.threads import Threads


class ModelsDialog(QDialog):
    models_changed = Signal()

    def __init__(
        self, queue: DownloadQueue, parent: QWidget | None = None, n_ctx: int = 4096
    ) -> None:
        super().__init__(parent)
        self.n_ctx = n_ctx
        self.setWindowTitle("Models")
        self.resize(980, 640)
        self.setAcceptDrops(True)
        self.queue = queue
        self.library = Library()
        self.installed: list[InstalledModel] = []
        self._calls = Threads(self)
        self.catalog_tab = CatalogTab(self.library.catalog, queue, n_ctx)
        self.search_tab = SearchTab(queue, self._calls, n_ctx)
        self.installed_tab = InstalledTab(self.library, self._calls, n_ctx)
        self.servers_tab = ServersTab(self._calls)
        self.tabs = QTabWidget(self)
        self.tabs.setAccessibleName("Model manager sections")
        self.tabs.addTab(self.catalog_tab, "Catalog")
        self.tabs.addTab(self.search_tab, "Search the Hub")
        self.tabs.addTab(self.installed_tab, "Installed")
        self.tabs.addTab(self.servers_tab, "Servers")
        self.installed_tab.imported.connect(self._imported)
        self.installed_tab.removed.connect(self._removed)
        self.servers_tab.models_changed.connect(self.models_changed)
        # The Servers tab's parts, by the names the window tests reach them with.
        self.servers_tree = self.servers_tab.servers_tree
        self.server_name = self.servers_tab.server_name
        self.server_url = self.servers_tab.server_url
        self.server_key = self.servers_tab.server_key
        self.servers_status = self.servers_tab.servers_status
        self.add_server = self.servers_tab.add_server
        self.remove_selected_server = self.servers_tab.remove_selected_server
        self.refresh_servers = self.servers_tab.refresh_servers
        self.rows: dict[int, JobRow] = {}
        self.queue_box = QVBoxLayout()
        queue_title = QLabel("<b>Downloads</b>")
        self.queue_empty = QLabel("Nothing downloading. Pick a model above and press Download.")
        self.queue_empty.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(queue_title)
        layout.addWidget(self.queue_empty)
        layout.addLayout(self.queue_box)
        for job in queue.jobs:
            self._job_added(job)
        queue.added.connect(self._job_added)
        queue.changed.connect(self._job_changed)
        queue.finished.connect(self._job_finished)
        queue.removed.connect(self._job_removed)
        self.refresh_installed()

    # The installed list, shared by the Catalog and Installed tabs ---------------------------------

    def refresh_installed(self, then: Callable[[], None] | None = None) -> None:
        """List the installed models in a worker thread (a new file's header is read, and a
        model file is untrusted), then fill the tabs and run `then`."""

        def listed(models: list[InstalledModel]) -> None:
            self.installed = models
            self.installed_tab.show_models(models)
            self.catalog_tab.show_installed(models)
            if then is not None:
                then()

        self._calls.call(lambda: Library().models(), listed, self.installed_tab.show_error)

    def _imported(self, path: Path) -> None:
        self.tabs.setCurrentWidget(self.installed_tab)
        self.refresh_installed(then=lambda: self.installed_tab.select_installed(path))
        self.models_changed.emit()

    def _removed(self) -> None:
        self.refresh_installed()
        self.models_changed.emit()

    # Drag and drop ------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.toLocalFile().lower().endswith(".gguf") for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.toLocalFile()]
        self.installed_tab.import_files([p for p in paths if p.suffix.lower() == ".gguf"])
        event.acceptProposedAction()

    # The download queue -------------------------------------------------------------------------

    def _job_added(self, job: DownloadJob) -> None:
        row = JobRow(job, self.queue)
        self.rows[job.id] = row
        self.queue_box.addWidget(row)
        self.queue_empty.hide()
        row.refresh()

    def _job_changed(self, job: DownloadJob) -> None:
        if row := self.rows.get(job.id):
            row.refresh()

    def _job_removed(self, job: DownloadJob) -> None:
        if row := self.rows.pop(job.id, None):
            self.queue_box.removeWidget(row)
            row.deleteLater()
        self.queue_empty.setVisible(not self.rows)

    def _job_finished(self, _job: DownloadJob) -> None:
        self.refresh_installed()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._calls.wait(5000)
        super().closeEvent(event)
