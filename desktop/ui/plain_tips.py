"""Tooltips that show text as it is written, whatever it holds.

Qt shows a tooltip as rich text when it merely looks like HTML (`Qt::mightBeRichText`), and
tooltips here quote what models, servers, files and chats say: a token `<b>`, a server's model
named `<img src=…>` or a chat titled `<a href=…>` would be formatted, or load an image, instead
of being shown. Escaped and marked as rich text, the text shows as it is, line breaks and
spaces kept, wrapped to a tooltip's width.
"""

from __future__ import annotations

import html


def plain_tip(text: str) -> str:
    """`text` as a tooltip that shows it character for character ("" stays no tooltip)."""
    if not text:
        return ""
    return f"<p style='white-space:pre-wrap'>{html.escape(text, quote=False)}</p>"
