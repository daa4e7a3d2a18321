"""Tooltips that show text as it is written, whatever it holds.

Qt shows a tooltip as rich text when it merely looks like HTML (`Qt::mightBeRichText`), and
tooltips here quote what models, servers, files and chats say: a token `<b>`, a server's model
named `<img src=…>` or a chat titled `<a href=…>` would be formatted, or load an image, instead
of being shown. Escaped and marked as rich text, the text shows as it is, line breaks and
spaces kept. Qt wraps a rich tooltip at a narrow width, so lines short enough to read on one
line are kept whole, as a plain tooltip would show them; longer text wraps.
"""

from __future__ import annotations

import html

_ONE_LINE = 120  # characters: a line up to this long is shown unwrapped


def plain_tip(text: str) -> str:
    """`text` as a tooltip that shows it character for character ("" stays no tooltip)."""
    if not text:
        return ""
    short = max(len(line) for line in text.splitlines() or [""]) <= _ONE_LINE
    style = "pre" if short else "pre-wrap"
    return f"<p style='white-space:{style}'>{html.escape(text, quote=False)}</p>"
