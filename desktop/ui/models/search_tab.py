"""The Search the Hub tab: find GGUF repositories, list a repository's files with what each
needs in memory, and queue the chosen ones for download."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.hub import api as hub
from desktop.core.hub.pending import PullTarget
from desktop.ui.models.downloads import DownloadQueue
from desktop.ui.models.sizes import fit_text, human_size
from desktop.ui.models.tree import ROLE, top_items
from desktop.ui.plain_tips import plain_tip
from desktop.ui.threads import Threads
from desktop.ui.views.widgets import kind_icon


class SearchTab(QWidget):
    def __init__(
        self, queue: DownloadQueue, calls: Threads, n_ctx: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.queue = queue
        self.calls = calls
        self.n_ctx = n_ctx
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
        self.results.currentItemChanged.connect(self._repo_chosen)
        self.files = QTreeWidget()
        self.files.setHeaderLabels(["File", "Quant", "Size", f"Memory ({n_ctx} ctx)", "State"])
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
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.search_status)
        layout.addWidget(split, 1)
        layout.addWidget(download, 0, Qt.AlignmentFlag.AlignRight)

    def run_search(self) -> None:
        query = self.search_box.text().strip()
        self.search_status.setText(f"Searching for '{query}'…")
        self.results.clear()
        self.files.clear()
        self.calls.call(lambda: hub.search(query), self._search_done, self.search_status.setText)

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
            item.setToolTip(1, plain_tip(f"labelled from its {repo.kind_reason}"))
            self.results.addTopLevelItem(item)
        self.results.resizeColumnToContents(0)

    def _repo_chosen(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if item is not None:  # None when the results are cleared for a new search
            self.list_repo(item.text(0))

    def list_repo(self, repo_id: str) -> None:
        self.files.clear()
        self.search_status.setText(f"Reading {repo_id}…")
        self.calls.call(
            lambda: hub.list_files(repo_id), self._files_done, self.search_status.setText
        )

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
            self.calls.call(lambda: hub.remote_kv_per_token(first), self._exact_fit, _ignore)

    def _exact_fit(self, kv_per_token: int | None) -> None:
        if kv_per_token is None:
            return
        for item in top_items(self.files):
            target: PullTarget = item.data(0, ROLE)
            item.setText(3, fit_text(target.size, self.n_ctx, kv_per_token))

    def download_file_selection(self) -> None:
        for item in self.files.selectedItems():
            target: PullTarget = item.data(0, ROLE)
            self.queue.enqueue(target, target.filename)
            item.setText(4, "queued")


def _ignore(_message: str) -> None:
    """The exact fit is a refinement: without it the estimate already shown stays."""
