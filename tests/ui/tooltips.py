"""What a tooltip shows: Qt renders a tooltip that looks like HTML as rich text, else as is."""

from __future__ import annotations

from PySide6 import QtGui
from PySide6.QtGui import QTextDocument

# Text a model, server or file could send that Qt would take for HTML.
HOSTILE = '<b>bold</b> <img src="/etc/x.png"> <a href="https://example.invalid">x</a>'


def shown(tip: str) -> str:
    """The text a tooltip shows, decided as Qt's tooltip label decides it."""
    if not QtGui.Qt.mightBeRichText(tip):
        return tip
    document = QTextDocument()
    document.setHtml(tip)
    return document.toPlainText()
