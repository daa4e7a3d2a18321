"""The Catalog tab: the curated base/instruct pairs and ladders of training stages, what each
model and each whole pair or ladder needs in memory, whether it is installed or on its way, and
Download for a selection."""

from __future__ import annotations

from collections.abc import Sequence

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
from desktop.ui.models.sizes import fit_text, human_size, set_fit_text
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
        self.catalog_tree.setAccessibleName("Catalog of base and instruct pairs and ladders")
        self.catalog_tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.catalog_tree.itemDoubleClicked.connect(lambda *_: self.download_catalog_selection())
        button = QPushButton("Download")
        button.setAccessibleName("Download the selected catalog models")
        button.clicked.connect(self.download_catalog_selection)
        note = QLabel(
            "Each pair is a base model and its instruct sibling; each ladder is one model's "
            "training stages in order, from base to assistant. Select one to get all of it."
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
            label = (
                f"{pair.id}  (offline starter pair)"
                if pair.is_starter
                else f"{pair.family} ({pair.id})"
            )
            top = self._group_row(label, "pair", pair.members)
            for entry in pair.members:
                top.addChild(self._model_row(entry.id, entry))
        for ladder in catalog.ladders:
            top = self._group_row(
                f"{ladder.family} ({ladder.id})",
                f"ladder, {len(ladder.stages)} stages",
                ladder.stages,
            )
            for entry in ladder.stages:
                top.addChild(
                    self._model_row(f"{entry.stage}. {entry.stage_name}: {entry.id}", entry)
                )
        for column in range(6):
            self.catalog_tree.resizeColumnToContents(column)

    def _group_row(self, label: str, kind: str, entries: Sequence[CatalogModel]) -> QTreeWidgetItem:
        """A pair or a ladder: its total size, and whether all of it fits in memory at once."""
        short, sentence = set_fit_text(entries, self.n_ctx)
        top = QTreeWidgetItem(
            [label, kind, "", human_size(sum(e.size for e in entries)), short, ""]
        )
        top.setToolTip(4, sentence)
        font = top.font(0)
        font.setBold(True)  # a group's row reads as a heading over its models
        top.setFont(0, font)
        top.setData(0, ROLE, list(entries))
        self.catalog_tree.addTopLevelItem(top)
        top.setExpanded(True)
        return top

    def _model_row(self, label: str, entry: CatalogModel) -> QTreeWidgetItem:
        child = QTreeWidgetItem(
            [
                label,
                entry.kind,
                entry.quant,
                human_size(entry.size),
                fit_text(entry.size, self.n_ctx),
                "",
            ]
        )
        child.setIcon(0, kind_icon(entry.kind))
        tip = f"{entry.repo_id} · {entry.filename} · license {entry.license}"
        child.setToolTip(0, tip + (f"\n{entry.note}" if entry.note else ""))
        child.setData(0, ROLE, [entry])
        return child

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
            children = child_items(top)
            installed = 0
            for child in children:
                entry: CatalogModel = child.data(0, ROLE)[0]
                job = self.queue.active(_target(entry))
                if self._is_installed(entry):
                    state = "installed"
                    installed += 1
                elif job is not None:
                    state = job.state if job.progress is None else f"{job.progress.fraction:.0%}"
                else:
                    state = ""
                child.setText(5, state)
            whole = "installed" if installed == len(children) else f"{installed} of {len(children)}"
            top.setText(5, whole if installed else "")
