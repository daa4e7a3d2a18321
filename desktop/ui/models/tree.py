"""Typed access to the rows of the Models window's trees, and the role their data is kept in."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem

ROLE = Qt.ItemDataRole.UserRole


def top_items(tree: QTreeWidget) -> list[QTreeWidgetItem]:
    # topLevelItem() may answer None for an index out of range: every index here is in range.
    return [
        item for i in range(tree.topLevelItemCount()) if (item := tree.topLevelItem(i)) is not None
    ]


def child_items(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    return [child for j in range(item.childCount()) if (child := item.child(j)) is not None]
