"""The history sidebar: chats and raw documents, newest first, with search, rename, delete
(with undo) and a New button."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.chat.store import ChatSummary, Store

ROLE = Qt.ItemDataRole.UserRole  # each item holds its ChatSummary


class Sidebar(QWidget):
    open_chat = Signal(int, str)  # id, kind
    new_chat = Signal()
    deleted = Signal(int)
    import_requested = Signal()

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search chats and documents")
        self.search.setAccessibleName("Search history")
        self.search.textChanged.connect(lambda _: self.refresh())
        new = QPushButton("New chat", self)
        new.setAccessibleName("New chat")
        new.clicked.connect(self.new_chat)
        self.list = QListWidget(self)
        self.list.setAccessibleName("Chats and documents")
        self.list.itemActivated.connect(self._activated)
        self.list.itemClicked.connect(self._activated)
        self.list.itemChanged.connect(self._renamed)
        self.undo_bar = QWidget(self)
        self.undo_label = QLabel(self.undo_bar)
        self.undo_button = QPushButton("Undo", self.undo_bar)
        self.undo_button.setAccessibleName("Undo delete")
        self.undo_button.clicked.connect(self.undo)
        row = QHBoxLayout(self.undo_bar)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.undo_label, 1)
        row.addWidget(self.undo_button)
        self.undo_bar.hide()
        self._undo_id: int | None = None
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.timeout.connect(self.undo_bar.hide)
        delete = QPushButton("Delete", self)
        delete.setAccessibleName("Delete the selected chat")
        delete.clicked.connect(self.delete_selected)
        rename = QPushButton("Rename", self)
        rename.clicked.connect(self.rename_selected)
        importer = QPushButton("Import…", self)
        importer.setToolTip("Open a chat exported as JSON")
        importer.clicked.connect(self.import_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(rename)
        buttons.addWidget(delete)
        buttons.addWidget(importer)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(new)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.undo_bar)
        layout.addLayout(buttons)
        QShortcut(QKeySequence("F2"), self.list).activated.connect(self.rename_selected)
        QShortcut(QKeySequence("Delete"), self.list).activated.connect(self.delete_selected)
        self.current: int | None = None
        self._filling = False
        self.refresh()

    def refresh(self) -> None:
        self._filling = True
        self.list.clear()
        chats: list[ChatSummary] = self.store.list_chats(self.search.text().strip())
        for chat in chats:
            label = ("📄 " if chat.kind == "document" else "") + chat.title
            item = QListWidgetItem(label)
            item.setData(ROLE, chat)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setToolTip(f"{chat.kind} · {chat.messages} messages")
            self.list.addItem(item)
            if chat.id == self.current:
                item.setSelected(True)
        self._filling = False

    def _activated(self, item: QListWidgetItem) -> None:
        chat = _summary(item)
        self.current = chat.id
        self.open_chat.emit(chat.id, chat.kind)

    def rename_selected(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            item.setText(_summary(item).title)
            self.list.editItem(item)

    def _renamed(self, item: QListWidgetItem) -> None:
        if self._filling:
            return
        chat = _summary(item)
        title = item.text().removeprefix("📄 ").strip()
        if title and title != chat.title:
            self.store.rename(chat.id, title)
        self.refresh()

    def delete_selected(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        chat = _summary(item)
        self.store.delete(chat.id)
        self._undo_id = chat.id
        self.undo_label.setText(f"Deleted “{chat.title}”.")
        self.undo_bar.show()
        self._undo_timer.start(15_000)
        self.refresh()
        self.deleted.emit(chat.id)

    def undo(self) -> None:
        if self._undo_id is not None:
            self.store.undo_delete(self._undo_id)
            self._undo_id = None
        self.undo_bar.hide()
        self.refresh()


def _summary(item: QListWidgetItem) -> ChatSummary:
    chat = item.data(ROLE)  # typed Any by Qt: every item is made in Sidebar.refresh
    assert isinstance(chat, ChatSummary)
    return chat
