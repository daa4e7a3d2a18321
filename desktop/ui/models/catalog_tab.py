"""The Catalog tab: the curated base/instruct pairs, what each needs in memory, whether it is
installed or on its way, and Download for a selection."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.hub.pending import PullTarget
from desktop.core.models.catalog import Catalog, CatalogModel
from desktop.core.models.library import InstalledModel
from desktop.ui.models.downloads import DownloadJob, DownloadQueue
from desktop.ui.models.sizes import fit_text, human_size
from desktop.ui.models.tree import ROLE, child_items, top_items
from desktop.ui.views.widgets import kind_icon


def _target(entry: CatalogModel) -> PullTarget:
    return PullTarget(entry.repo_id, (entry.filename,), entry.size, entry.quant)


class CatalogTab(QWidget):
    def __init__(
        self, catalog: Catalog, queue: DownloadQueue, n_ctx: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.queue = queue
        self.n_ctx = n_ctx
        self.installed: list[InstalledModel] = []
        self.catalog_tree = QTreeWidget()
        self.catalog_tree.setHeaderLabels(
            ["Model", "Kind", "Quant", "Size", f"Memory ({n_ctx} ctx)", "State"]
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
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.catalog_tree, 1)
        layout.addWidget(button, 0, Qt.AlignmentFlag.AlignRight)
        self._fill(catalog)
        queue.changed.connect(self._job_changed)

    def _fill(self, catalog: Catalog) -> None:
        for pair in catalog.pairs:
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

    def download_catalog_selection(self) -> None:
        for item in self.catalog_tree.selectedItems():
            entries: list[CatalogModel] = item.data(0, ROLE) or []
            for entry in entries:
                if not self._is_installed(entry):  # a starter file comes from the Hub too
                    self.queue.enqueue(_target(entry), entry.id)
        self.refresh_states()

    def show_installed(self, models: list[InstalledModel]) -> None:
        self.installed = models
        self.refresh_states()

    def _is_installed(self, entry: CatalogModel) -> bool:
        return any(m.catalog is not None and m.catalog.id == entry.id for m in self.installed)

    def _job_changed(self, _job: DownloadJob) -> None:
        self.refresh_states()

    def refresh_states(self) -> None:
        for top in top_items(self.catalog_tree):
            for child in child_items(top):
                entry: CatalogModel = child.data(0, ROLE)[0]
                job = self.queue.active(_target(entry))
                if self._is_installed(entry):
                    state = "installed"
                elif job is not None:
                    state = job.state if job.progress is None else f"{job.progress.fraction:.0%}"
                else:
                    state = ""
                child.setText(5, state)
