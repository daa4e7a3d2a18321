"""The Models window: the curated catalog of base/instruct pairs, a Hub search, what is
installed (with its metadata, import and delete), and the download queue below them all."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, QThread, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.engine.remote import servers as remote
from desktop.core.errors import DuetError
from desktop.core.hub import api as hub
from desktop.core.hub.pull import PullTarget
from desktop.core.models.catalog import CatalogModel
from desktop.core.models.library import InstalledModel, Library
from desktop.ui.models.downloads import DownloadJob, DownloadQueue
from desktop.ui.threads import CallThread
from desktop.ui.views.widgets import kind_icon

ROLE = Qt.ItemDataRole.UserRole


def human_size(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:,.0f} MB"


def fit_text(size: int, n_ctx: int = 4096, kv_per_token: int | None = None) -> str:
    estimate = hub.estimate_ram(size, n_ctx=n_ctx, kv_per_token=kv_per_token)
    guess = "" if estimate.exact_kv else ", KV estimated"
    return f"{estimate.fit} ({estimate.total / 1e9:.1f} GB{guess})"


class _JobRow(QWidget):
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
        self.cancel.setEnabled(job.state in ("queued", "downloading"))


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
        self._threads: set[QThread] = set()
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._catalog_tab(), "Catalog")
        self.tabs.addTab(self._search_tab(), "Search the Hub")
        self.tabs.addTab(self._installed_tab(), "Installed")
        self.tabs.addTab(self._servers_tab(), "Servers")
        self.rows: dict[int, _JobRow] = {}
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
        queue.finished.connect(lambda _job: self.refresh_installed())
        self.refresh_installed()

    # Catalog ------------------------------------------------------------------------------------

    def _catalog_tab(self) -> QWidget:
        page = QWidget()
        self.catalog_tree = QTreeWidget()
        self.catalog_tree.setHeaderLabels(
            ["Model", "Kind", "Quant", "Size", f"Memory ({self.n_ctx} ctx)", "State"]
        )
        self.catalog_tree.setAccessibleName("Catalog of base and instruct pairs")
        self.catalog_tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.catalog_tree.itemDoubleClicked.connect(lambda *_: self.download_catalog_selection())
        button = QPushButton("Download")
        button.setAccessibleName("Download the selected catalog models")
        button.clicked.connect(self.download_catalog_selection)
        note = QLabel(
            "Each pair is a base model and its instruct sibling: select a pair to get both."
        )
        note.setWordWrap(True)
        layout = QVBoxLayout(page)
        layout.addWidget(note)
        layout.addWidget(self.catalog_tree, 1)
        layout.addWidget(button, 0, Qt.AlignmentFlag.AlignRight)
        for pair in self.library.catalog.pairs:
            top = QTreeWidgetItem(
                [pair.id + ("  (offline starter pair)" if pair.is_starter else ""), "pair"]
            )
            top.setData(0, ROLE, [pair.base, pair.instruct])
            for entry in (pair.base, pair.instruct):
                child = QTreeWidgetItem(
                    [
                        entry.id,
                        entry.kind,
                        entry.quant,
                        human_size(entry.size),
                        fit_text(entry.size, self.n_ctx),
                        "",
                    ]
                )
                child.setIcon(0, kind_icon(entry.kind))
                child.setToolTip(0, f"{entry.repo_id} · {entry.filename} · license {entry.license}")
                child.setData(0, ROLE, [entry])
                top.addChild(child)
            self.catalog_tree.addTopLevelItem(top)
            top.setExpanded(True)
        for column in range(6):
            self.catalog_tree.resizeColumnToContents(column)
        return page

    def download_catalog_selection(self) -> None:
        for item in self.catalog_tree.selectedItems():
            for entry in item.data(0, ROLE) or []:
                if not self._is_installed(entry):  # a starter file comes from the Hub too
                    target = PullTarget(entry.repo_id, (entry.filename,), entry.size, entry.quant)
                    self.queue.enqueue(target, entry.id)
        self._refresh_catalog_states()

    def _is_installed(self, entry: CatalogModel) -> bool:
        return any(m.catalog is not None and m.catalog.id == entry.id for m in self.installed)

    def _refresh_catalog_states(self) -> None:
        for i in range(self.catalog_tree.topLevelItemCount()):
            top = self.catalog_tree.topLevelItem(i)
            for j in range(top.childCount()):
                child = top.child(j)
                entry: CatalogModel = child.data(0, ROLE)[0]
                target = PullTarget(entry.repo_id, (entry.filename,), entry.size, entry.quant)
                job = self.queue.active(target)
                if self._is_installed(entry):
                    state = "installed"
                elif job is not None:
                    state = job.state if job.progress is None else f"{job.progress.fraction:.0%}"
                else:
                    state = ""
                child.setText(5, state)

    # Search -------------------------------------------------------------------------------------

    def _search_tab(self) -> QWidget:
        page = QWidget()
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText(
            "Search GGUF models on the Hugging Face Hub, e.g. qwen, llama 3.2, smollm"
        )
        self.search_box.setAccessibleName("Hub search")
        self.search_box.returnPressed.connect(self.run_search)
        go = QPushButton("Search")
        go.clicked.connect(self.run_search)
        self.search_status = QLabel("")
        self.search_status.setTextFormat(Qt.TextFormat.PlainText)
        self.search_status.setWordWrap(True)
        self.results = QTreeWidget()
        self.results.setHeaderLabels(["Repository", "Kind", "Downloads"])
        self.results.setAccessibleName("Search results")
        self.results.currentItemChanged.connect(
            lambda item, _: item and self.list_repo(item.text(0))
        )
        self.files = QTreeWidget()
        self.files.setHeaderLabels(["File", "Quant", "Size", f"Memory ({self.n_ctx} ctx)", "State"])
        self.files.setAccessibleName("Files in the repository")
        self.files.itemDoubleClicked.connect(lambda *_: self.download_file_selection())
        download = QPushButton("Download")
        download.setAccessibleName("Download the selected file")
        download.clicked.connect(self.download_file_selection)
        top = QHBoxLayout()
        top.addWidget(self.search_box, 1)
        top.addWidget(go)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.results)
        split.addWidget(self.files)
        split.setSizes([380, 580])
        layout = QVBoxLayout(page)
        layout.addLayout(top)
        layout.addWidget(self.search_status)
        layout.addWidget(split, 1)
        layout.addWidget(download, 0, Qt.AlignmentFlag.AlignRight)
        return page

    def run_search(self) -> None:
        query = self.search_box.text().strip()
        self.search_status.setText(f"Searching for '{query}'…")
        self.results.clear()
        self.files.clear()
        self._call(lambda: hub.search(query), self._search_done, self.search_status.setText)

    def _search_done(self, repos: list[hub.HubRepo]) -> None:
        self.search_status.setText(
            f"{len(repos)} repositories, most downloaded first." if repos else "Nothing found."
        )
        for repo in repos:
            item = QTreeWidgetItem(
                [
                    repo.repo_id,
                    repo.kind + (" · gated" if repo.gated else ""),
                    f"{repo.downloads:,}",
                ]
            )
            item.setIcon(0, kind_icon(repo.kind))
            item.setToolTip(1, f"labelled from its {repo.kind_reason}")
            self.results.addTopLevelItem(item)
        self.results.resizeColumnToContents(0)

    def list_repo(self, repo_id: str) -> None:
        self.files.clear()
        self.search_status.setText(f"Reading {repo_id}…")
        self._call(lambda: hub.list_files(repo_id), self._files_done, self.search_status.setText)

    def _files_done(self, listing: hub.RepoFiles) -> None:
        refused = (
            f" {len(listing.refused)} file(s) with unsafe names were ignored."
            if listing.refused
            else ""
        )
        self.search_status.setText(
            f"{listing.repo.repo_id}: {len(listing.files)} GGUF files.{refused}"
        )
        for file in listing.files:
            parts = f" ({len(file.parts)} parts)" if file.is_split else ""
            item = QTreeWidgetItem(
                [
                    file.filename + parts,
                    file.quant,
                    human_size(file.size),
                    fit_text(file.size, self.n_ctx),
                    "",
                ]
            )
            item.setData(0, ROLE, PullTarget(file.repo_id, file.parts, file.size, file.quant))
            self.files.addTopLevelItem(item)
        self.files.resizeColumnToContents(0)
        if listing.files:  # one header read gives the real KV size for every quantization
            first = listing.files[0]
            self._call(
                lambda: hub.remote_kv_per_token(first), self._exact_fit, lambda _message: None
            )

    def _exact_fit(self, kv_per_token: int | None) -> None:
        if kv_per_token is None:
            return
        for i in range(self.files.topLevelItemCount()):
            item = self.files.topLevelItem(i)
            target: PullTarget = item.data(0, ROLE)
            item.setText(3, fit_text(target.size, self.n_ctx, kv_per_token))

    def download_file_selection(self) -> None:
        for item in self.files.selectedItems():
            target: PullTarget = item.data(0, ROLE)
            self.queue.enqueue(target, target.filename)
            item.setText(4, "queued")

    # Installed ----------------------------------------------------------------------------------

    def _installed_tab(self) -> QWidget:
        page = QWidget()
        self.installed_tree = QTreeWidget()
        self.installed_tree.setHeaderLabels(["Model", "Kind", "Quant", "Size", "Source"])
        self.installed_tree.setAccessibleName("Installed models")
        self.installed_tree.currentItemChanged.connect(lambda item, _: self._show_details(item))
        self.details = QLabel(
            "Select a model to see its metadata. Drop .gguf files here to add them."
        )
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.details.setAccessibleName("Model metadata")
        self.installed_error = QLabel("")
        self.installed_error.setTextFormat(Qt.TextFormat.PlainText)  # it quotes file names
        self.installed_error.setWordWrap(True)
        self.installed_error.setStyleSheet("color: #c62828;")
        import_button = QPushButton("Import .gguf…")
        import_button.clicked.connect(self.import_dialog)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.setAccessibleName("Delete the selected model")
        self.delete_button.clicked.connect(self.delete_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(import_button)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.installed_tree)
        split.addWidget(self.details)
        split.setSizes([560, 400])
        layout = QVBoxLayout(page)
        layout.addWidget(split, 1)
        layout.addWidget(self.installed_error)
        layout.addLayout(buttons)
        return page

    def refresh_installed(self, then: Callable[[], None] | None = None) -> None:
        """List the installed models in a worker thread (a new file's header is read, and a
        model file is untrusted), then fill the tab and run `then`."""

        def listed(models: list[InstalledModel]) -> None:
            self._show_installed(models)
            if then is not None:
                then()

        self._call(lambda: Library().models(), listed, self.installed_error.setText)

    def _show_installed(self, models: list[InstalledModel]) -> None:
        self.installed = models
        self.installed_tree.clear()
        for model in self.installed:
            item = QTreeWidgetItem(
                [
                    model.id,
                    model.kind,
                    model.info.quantization,
                    human_size(model.info.file_size),
                    model.source,
                ]
            )
            item.setIcon(0, kind_icon(model.kind))
            item.setData(0, ROLE, model)
            self.installed_tree.addTopLevelItem(item)
        self.installed_tree.resizeColumnToContents(0)
        self._refresh_catalog_states()

    def _show_details(self, item: QTreeWidgetItem | None) -> None:
        model: InstalledModel | None = item.data(0, ROLE) if item is not None else None
        if model is None:
            return
        info = model.info
        rows = [
            ("Architecture", info.architecture),
            ("Name", info.name),
            ("Parameters", f"{info.parameter_count / 1e6:,.0f} M"),
            ("Quantization", info.quantization),
            ("Context length", f"{info.context_length:,} tokens"),
            (
                "Chat template",
                "yes"
                if info.has_chat_template
                else "no (a base model: chat mode uses a plain transcript)",
            ),
            ("Kind", f"{model.kind} (from its {model.kind_reason})"),
            (
                "Size",
                f"{human_size(info.file_size)} · memory {fit_text(info.file_size, self.n_ctx, info.kv_bytes_per_token())}",
            ),
            ("Source", model.repo_id or model.source),
            ("File", str(model.path)),
        ]
        self.details.setText(
            "<table>"
            # Names and paths come from the file: escaped, so a name cannot be a link or an image.
            + "".join(f"<tr><td><b>{k}</b>&nbsp;</td><td>{escape(v)}</td></tr>" for k, v in rows)
            + "</table>"
        )
        self.delete_button.setEnabled(model.source in ("hf-cache", "registered"))

    def select_installed(self, path: Path) -> None:
        for i in range(self.installed_tree.topLevelItemCount()):
            item = self.installed_tree.topLevelItem(i)
            if item.data(0, ROLE).path == path:
                self.installed_tree.setCurrentItem(item)

    def import_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Import GGUF models", str(Path.home()), "GGUF models (*.gguf)"
        )
        self.import_files([Path(p) for p in paths])

    def import_files(self, paths: list[Path]) -> None:
        """Register dropped or chosen files. A model file is untrusted and reading its header
        takes a moment, so the files are read in a worker thread."""
        self.installed_error.setText(f"Reading {len(paths)} file(s)…" if paths else "")
        if paths:
            self._call(lambda: self._register_all(paths), self._imported, self._import_failed)

    def _register_all(self, paths: list[Path]) -> tuple[InstalledModel | None, list[str]]:
        problems = []
        last = None
        for path in paths:
            try:
                last = self.library.register(path)
            except DuetError as exc:
                problems.append(str(exc))
        return last, problems

    def _import_failed(self, message: str) -> None:
        self.installed_error.setText(message)

    def _imported(self, result: tuple[InstalledModel | None, list[str]]) -> None:
        last, problems = result
        self.installed_error.setText("\n".join(problems))
        if last is not None:
            path = last.path
            self.tabs.setCurrentIndex(2)
            self.refresh_installed(then=lambda: self.select_installed(path))
            self.models_changed.emit()

    def delete_selected(self) -> None:
        item = self.installed_tree.currentItem()
        model: InstalledModel | None = item.data(0, ROLE) if item is not None else None
        if model is None:
            return
        what = (
            "Delete the downloaded file"
            if model.source == "hf-cache"
            else "Remove from Duet's list (the file stays)"
        )
        answer = QMessageBox.question(
            self,
            "Delete model",
            f"{what}: {model.id}, {human_size(model.info.file_size)}?\n{model.path}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            self.installed_error.setText(self.library.remove(model))
        except DuetError as exc:
            self.installed_error.setText(str(exc))
        self.refresh_installed()
        self.models_changed.emit()

    # Drag and drop ------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.toLocalFile().lower().endswith(".gguf") for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.toLocalFile()]
        self.import_files([p for p in paths if p.suffix.lower() == ".gguf"])
        event.acceptProposedAction()

    # Queue and plumbing ----------------------------------------------------------------------------

    def _job_added(self, job: DownloadJob) -> None:
        row = _JobRow(job, self.queue)
        self.rows[job.id] = row
        self.queue_box.addWidget(row)
        self.queue_empty.hide()
        row.refresh()

    # Servers ------------------------------------------------------------------------------------

    def _servers_tab(self) -> QWidget:
        page = QWidget()
        self.servers_tree = QTreeWidget()
        self.servers_tree.setHeaderLabels(["Server", "URL", "API key from", "Models"])
        self.servers_tree.setAccessibleName("Remote servers")
        for column, width in enumerate((120, 260, 140)):
            self.servers_tree.setColumnWidth(column, width)
        self.server_name = QLineEdit()
        self.server_name.setPlaceholderText("name, e.g. lab")
        self.server_url = QLineEdit()
        self.server_url.setPlaceholderText("http://127.0.0.1:8080")
        self.server_key_env = QLineEdit()
        self.server_key_env.setPlaceholderText("API key env var (optional)")
        self.server_key = QLineEdit()
        self.server_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.server_key.setPlaceholderText("or an API key, kept in the OS keyring")
        add = QPushButton("Add server")
        add.clicked.connect(self.add_server)
        self.remove_server_button = QPushButton("Remove")
        self.remove_server_button.clicked.connect(self.remove_selected_server)
        self.servers_status = QLabel(
            "Point Duet at an OpenAI-compatible server (llama-server, vLLM, Ollama, LM Studio)."
            " Its models appear in the model picker, marked remote."
        )
        self.servers_status.setWordWrap(True)
        self.servers_status.setTextFormat(Qt.TextFormat.PlainText)  # it quotes what was typed
        form = QHBoxLayout()
        for widget in (self.server_name, self.server_url, self.server_key_env, self.server_key):
            form.addWidget(widget)
        form.addWidget(add)
        layout = QVBoxLayout(page)
        layout.addWidget(self.servers_tree, 1)
        layout.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(self.servers_status, 1)
        row.addWidget(self.remove_server_button)
        layout.addLayout(row)
        self.refresh_servers()
        return page

    def refresh_servers(self) -> None:
        self.servers_tree.clear()
        if warning := remote.servers_warning():
            self.servers_status.setText(warning)
        for item in remote.servers():
            source = f"${item.api_key_env}" if item.api_key_env else "keyring, if set"
            row = QTreeWidgetItem([item.name, item.url, source, "…"])
            row.setData(0, ROLE, item.name)
            self.servers_tree.addTopLevelItem(row)
            # Listing /v1/models can take seconds on a slow network: off the UI thread.
            self._call(
                lambda item=item: remote.RemoteEngine(item, "", timeout=5).models(),
                lambda names, name=item.name: self._server_models(name, ", ".join(names) or "none"),
                lambda message, name=item.name: self._server_models(name, str(message)),
            )

    def _server_models(self, name: str, text: str) -> None:
        # Looked up by name: the list may have been rebuilt while /v1/models was answering.
        for index in range(self.servers_tree.topLevelItemCount()):
            row = self.servers_tree.topLevelItem(index)
            if row.data(0, ROLE) == name:
                row.setText(3, text)
                row.setToolTip(3, text)

    def add_server(self) -> None:
        name, url = self.server_name.text().strip(), self.server_url.text().strip()
        key, env = self.server_key.text(), self.server_key_env.text().strip()
        try:
            try:
                remote.add_server(name, url, env, api_key=key)
            except remote.InsecureKey as exc:
                # Checked after everything else, so the question is only asked for a server
                # that would otherwise be added.
                if not self._accept_insecure_key(str(exc)):
                    self.servers_status.setText(
                        f"Not added: the key of {name} would go over plain http. Use an https "
                        "URL, or add it again and accept."
                    )
                    return
                remote.add_server(name, url, env, api_key=key, allow_insecure_key=True)
        except DuetError as exc:
            self.servers_status.setText(str(exc))
            return
        self.servers_status.setText(f"Added {name}. Its models are in the model picker.")
        for field in (self.server_name, self.server_url, self.server_key_env, self.server_key):
            field.clear()
        self.refresh_servers()
        self.models_changed.emit()

    def _accept_insecure_key(self, why: str) -> bool:
        answer = QMessageBox.question(
            self,
            "Send the API key over plain http?",
            f"{why}\n\nSend the key over plain http anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def remove_selected_server(self) -> None:
        item = self.servers_tree.currentItem()
        if item is None:
            self.servers_status.setText("Select a server to remove.")
            return
        name = item.data(0, ROLE)
        try:
            remote.remove_server(name)
        except DuetError as exc:
            self.servers_status.setText(str(exc))
            return
        self.servers_status.setText(f"Removed {name}.")
        self.refresh_servers()
        self.models_changed.emit()

    def _job_changed(self, job: DownloadJob) -> None:
        if row := self.rows.get(job.id):
            row.refresh()
        self._refresh_catalog_states()

    def _call(self, fn: object, done: object, failed: object) -> None:
        thread = CallThread(fn, self)  # type: ignore[arg-type]
        thread.done.connect(done)  # type: ignore[arg-type]
        thread.failed.connect(failed)  # type: ignore[arg-type]
        self._threads.add(thread)
        thread.finished.connect(lambda: self._threads.discard(thread))
        thread.start()

    def closeEvent(self, event: object) -> None:
        for thread in list(self._threads):
            thread.wait(5000)
        super().closeEvent(event)  # type: ignore[arg-type]
