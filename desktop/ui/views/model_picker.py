"""The model picker: a combo box of the models Duet can run, each with its kind's dot, "remote"
for a server's, and a tooltip saying what it is; used by the main window and compare columns."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWidget

from desktop.core.engine.factory import Runnable, capabilities_of, describe
from desktop.ui.plain_tips import plain_tip
from desktop.ui.views.widgets import kind_icon


class ModelPicker(QComboBox):
    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(name)
        self.models: list[Runnable] = []

    def show_models(self, models: list[Runnable], chosen: str | None = None) -> None:
        """Offer these models; `chosen` (by default the current one) stays chosen while it is
        among them, else the first is."""
        chosen = self.chosen_id if chosen is None else chosen
        self.models = list(models)
        self.blockSignals(True)  # refilling is not the user choosing
        self.clear()
        for model in self.models:
            remote = not capabilities_of(model).uses_this_machine
            label = f"{model.id}  ·  {model.kind}" + ("  ·  remote" if remote else "")
            self.addItem(kind_icon(model.kind), label, model.id)
            tip = plain_tip(describe(model))  # a file's path can hold anything
            self.setItemData(self.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(max(0, self.findData(chosen)))
        self.blockSignals(False)

    @property
    def chosen_id(self) -> str:
        data = self.currentData()
        return data if isinstance(data, str) else ""

    @property
    def chosen(self) -> Runnable | None:
        return next((m for m in self.models if m.id == self.chosen_id), None)

    def choose(self, model_id: str) -> None:
        self.setCurrentIndex(self.findData(model_id))
