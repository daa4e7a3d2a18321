"""The history sidebar: chats and raw documents, newest first, with search, rename, delete
(with undo) and a New button.

The list is rebuilt whenever a reply lands or a title changes, which deletes every item in it:
the sidebar therefore holds chat ids, never items, and looks an item up by id when it acts."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.core.chat.store import ChatSummary, Store
from desktop.ui.icons import icon
from desktop.ui.plain_tips import plain_tip

ROLE = Qt.ItemDataRole.UserRole  # each item holds its ChatSummary
ICON_SIZE = 16


class _FitWidth(QStyledItemDelegate):
    """Items as wide as the list, not as their titles: a long title is elided with "…" (its
    whole text is in the tooltip) and the list never scrolls sideways."""

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return QSize(0, super().sizeHint(option, index).height())


class Sidebar(QWidget):
    open_chat = Signal(int, str)  # id, kind
    new_chat = Signal()
    deleted = Signal(int)
    restored = Signal(int, str)  # Undo brought back this chat: id, kind
    import_requested = Signal()

    def __init__(self, store: Store, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search chats and documents")
        self.search.setAccessibleName("Search history")
        self.search.textChanged.connect(lambda _: self.refresh())
        new = QPushButton(icon("message-square-plus"), "New chat", self)
        new.setAccessibleName("New chat")
        new.clicked.connect(self.new_chat)
        self.list = QListWidget(self)
        self.list.setAccessibleName("Chats and documents")
        self.list.setItemDelegate(_FitWidth(self.list))
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        # Drawn icons, in the theme's text colour: an emoji needs a font many systems lack.
        self._icons = {"document": icon("file-text"), "chat": icon("message-square")}
        self.list.itemClicked.connect(self._clicked)
        self.list.itemActivated.connect(self._activated)
        self.list.currentItemChanged.connect(self._moved)
        self.list.itemChanged.connect(self._renamed)
        self.undo_bar = QWidget(self)
        self.undo_label = QLabel(self.undo_bar)
        self.undo_label.setTextFormat(Qt.TextFormat.PlainText)  # it quotes a chat's title
        self.undo_button = QPushButton(icon("undo-2"), "Undo", self.undo_bar)
        self.undo_button.setAccessibleName("Undo delete")
        self.undo_button.clicked.connect(self.undo)
        row = QHBoxLayout(self.undo_bar)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.undo_label, 1)
        row.addWidget(self.undo_button)
        self.undo_bar.hide()
        self._undo: ChatSummary | None = None
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.timeout.connect(self.undo_bar.hide)
        # Icon buttons, each named and explained: History stays narrow on a laptop screen.
        delete = _icon_button(icon("trash-2"), "Delete", self)
        delete.setAccessibleName("Delete the selected chat")
        delete.setToolTip("Delete the selected chat or document (Delete; Undo brings it back)")
        delete.clicked.connect(self.delete_selected)
        rename = _icon_button(icon("pencil"), "Rename", self)
        rename.setAccessibleName("Rename the selected chat")
        rename.setToolTip("Rename the selected chat or document (F2)")
        rename.clicked.connect(self.rename_selected)
        importer = _icon_button(icon("file-down"), "Import…", self)
        importer.setAccessibleName("Import a chat")
        importer.setToolTip("Open a chat exported as JSON (Ctrl+O)")
        importer.clicked.connect(self.import_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(rename)
        buttons.addWidget(delete)
        buttons.addStretch(1)
        buttons.addWidget(importer)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(new)
        layout.addWidget(self.search)
        QWidget.setTabOrder(new, self.search)  # Tab goes down the panel as it reads
        layout.addWidget(self.list, 1)
        layout.addWidget(self.undo_bar)
        layout.addLayout(buttons)
        QShortcut(QKeySequence("F2"), self.list).activated.connect(self.rename_selected)
        QShortcut(QKeySequence("Delete"), self.list).activated.connect(self.delete_selected)
        self._current: int | None = None  # the chat or document open in the window
        self._selected: int | None = None  # the one F2 and Delete act on
        self._clicked_id: int | None = None
        self._filling = False
        self.refresh()

    @property
    def current(self) -> int | None:
        """The id of the chat or document open in the window; it is selected in the list."""
        return self._current

    @current.setter
    def current(self, chat_id: int | None) -> None:
        self._current = self._selected = chat_id

    def refresh(self) -> None:
        """Rebuild the list (every item is new) and select the same chat again, by its id."""
        self._filling = True
        self.list.clear()
        chats: list[ChatSummary] = self.store.list_chats(self.search.text().strip())
        for chat in chats:
            item = QListWidgetItem(self._icons[chat.kind], chat.title)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            _describe(item, chat)
            self.list.addItem(item)
            if chat.id == self._selected:
                self.list.setCurrentItem(item)
        self._filling = False

    def selected(self) -> ChatSummary | None:
        """The chat F2 and Delete act on, as listed now."""
        item = self._item(self._selected)
        return None if item is None else _summary(item)

    def _item(self, chat_id: int | None) -> QListWidgetItem | None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if _summary(item).id == chat_id:
                return item
        return None

    def _moved(self, item: QListWidgetItem | None) -> None:
        """The arrow keys or a click moved the selection (a rebuild keeps it, by id)."""
        if not self._filling:
            self._selected = None if item is None else _summary(item).id

    def _clicked(self, item: QListWidgetItem) -> None:
        """Open it and keep the keyboard here, where the pointer is: F2, Delete and the arrows
        then act on the list (the window moves the focus to the view it shows)."""
        self._open(item)
        self.list.setFocus(Qt.FocusReason.MouseFocusReason)
        # On platforms that open an item with one click, Qt announces the click twice.
        self._clicked_id = self._current
        QTimer.singleShot(0, self._forget_click)

    def _forget_click(self) -> None:
        self._clicked_id = None

    def _activated(self, item: QListWidgetItem) -> None:
        """Enter on an item: open it, and type on in the view the window shows."""
        if _summary(item).id != self._clicked_id:
            self._open(item)

    def _open(self, item: QListWidgetItem) -> None:
        chat = _summary(item)
        self.current = chat.id
        self.open_chat.emit(chat.id, chat.kind)

    def rename_selected(self) -> None:
        item = self._item(self._selected)
        if item is not None:
            self.list.setCurrentItem(item)
            self.list.editItem(item)

    def _renamed(self, item: QListWidgetItem) -> None:
        """The title was edited in place: saved, and the item kept (no rebuild under the
        editor that is closing on it)."""
        if self._filling:
            return
        chat = _summary(item)
        title = item.text().strip()
        if title and title != chat.title:
            self.store.rename(chat.id, title)
            chat = replace(chat, title=title)
        self._filling = True
        item.setText(chat.title)  # an empty title goes back to what it was
        _describe(item, chat)
        self._filling = False

    def delete_selected(self) -> None:
        chat = self.selected()
        if chat is None:
            return
        self.store.delete(chat.id)
        self._undo = chat
        self.undo_label.setText(f"Deleted “{chat.title}”.")
        self.undo_bar.show()
        self._undo_timer.start(15_000)
        self.refresh()
        self.deleted.emit(chat.id)

    def undo(self) -> None:
        """Bring back the chat deleted last; the window opens it again if it was open."""
        chat, self._undo = self._undo, None
        self.undo_bar.hide()
        if chat is None:
            return
        self.store.undo_delete(chat.id)
        self._selected = chat.id
        self.refresh()
        self.restored.emit(chat.id, chat.kind)


def _icon_button(glyph: QIcon, text: str, parent: QWidget) -> QToolButton:
    button = QToolButton(parent)
    button.setIcon(glyph)
    button.setText(text)
    button.setAutoRaise(True)
    return button


def _describe(item: QListWidgetItem, chat: ChatSummary) -> None:
    """What the item holds, shows on hover and says to a screen reader."""
    item.setData(ROLE, chat)
    count = "1 message" if chat.messages == 1 else f"{chat.messages} messages"
    detail = "document" if chat.kind == "document" else f"chat · {count}"
    item.setToolTip(plain_tip(f"{chat.title}\n{detail}"))
    item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{chat.title}, {detail}")


def _summary(item: QListWidgetItem) -> ChatSummary:
    chat = item.data(ROLE)  # typed Any by Qt: every item is made in Sidebar.refresh
    assert isinstance(chat, ChatSummary)
    return chat
