"""The Installed tab: the models on this machine with their metadata, importing .gguf files
(read off the UI thread: a model file is untrusted) and deleting or forgetting one."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.errors import DuetError
from desktop.core.models.library import InstalledModel, Library
from desktop.ui.dialogs import ask_yes_no
from desktop.ui.models.sizes import fit_text, human_size
from desktop.ui.models.tree import ROLE, top_items
from desktop.ui.threads import Threads
from desktop.ui.views.widgets import kind_icon

Imported = tuple[InstalledModel | None, list[str]]  # the last model registered, the problems


class InstalledTab(QWidget):
    imported = Signal(object)  # Path of the last file imported
    removed = Signal()

    def __init__(
        self, library: Library, calls: Threads, n_ctx: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.calls = calls
        self.n_ctx = n_ctx
        self.installed_tree = QTreeWidget()
        self.installed_tree.setHeaderLabels(["Model", "Kind", "Quant", "Size", "Source"])
        self.installed_tree.setAccessibleName("Installed models")
        self.installed_tree.currentItemChanged.connect(self._current_changed)
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
        self.installed_error.setProperty("role", "error")  # the danger colour (duet.qss)
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
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addWidget(self.installed_error)
        layout.addLayout(buttons)

    def show_models(self, models: list[InstalledModel]) -> None:
        self.installed_tree.clear()
        for model in models:
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

    def show_error(self, message: str) -> None:
        self.installed_error.setText(message)

    def _current_changed(
        self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None
    ) -> None:
        self._show_details(item)

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
        for item in top_items(self.installed_tree):
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
            self.calls.call(lambda: self._register_all(paths), self._imported, self.show_error)

    def _register_all(self, paths: list[Path]) -> Imported:
        problems = []
        last = None
        for path in paths:
            try:
                last = self.library.register(path)
            except DuetError as exc:
                problems.append(str(exc))
        return last, problems

    def _imported(self, result: Imported) -> None:
        last, problems = result
        self.installed_error.setText("\n".join(problems))
        if last is not None:
            self.imported.emit(last.path)

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
        question = f"{what}: {model.id}, {human_size(model.info.file_size)}?\n{model.path}"
        if not ask_yes_no(self, "Delete model", question):
            return
        try:
            self.installed_error.setText(self.library.remove(model))
        except DuetError as exc:
            self.installed_error.setText(str(exc))
        self.removed.emit()
