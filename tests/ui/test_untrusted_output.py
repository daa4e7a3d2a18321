"""What a model writes is shown, never acted on. A reply is rendered as Markdown, and Qt loads
the images, style sheets and backgrounds a rich text names from the local file system, with
`QFile.readAll`: a reply naming `/dev/zero` took the window to `std::bad_alloc` (abort), a
pipe froze it, and the stored reply did it again each time the chat opened. Here every such
name is a pipe whose writer notes whether the window ever opened it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop.ui.views.chat import ChatView

# Run in its own process: a window thread blocked opening the pipe holds the GIL, so a thread of
# this test could never answer it.
WRITER = r"""
import os, sys, time
path, log = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 30
while time.monotonic() < deadline and not os.path.exists(log + ".stop"):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: no reader
        time.sleep(0.005)
        continue
    with open(log, "a") as f:
        f.write("opened\n")
    os.close(fd)
    time.sleep(0.005)
"""


class Pipe:
    """A named pipe at `path` and a process that notes each time anything opens it for reading
    (and closes its end at once, so a reader that did open it reads nothing and goes on)."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path = path
        self._log = path.with_suffix(".log")
        self._writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(self._log)])

    @property
    def opened(self) -> bool:
        return self._log.exists()

    def close(self) -> None:
        self.path.unlink()  # a widget left behind that opens it again finds nothing, at once
        self._log.with_suffix(".log.stop").touch()
        try:
            self._writer.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._writer.kill()
            self._writer.wait()


REPLIES = {
    "markdown image": "Look: ![a cat]({path}) and text after",
    "file address": "Look: ![a cat](file://{path}) and text after",
    "html image": 'Look: <img src="{path}"> and text after',
    "html background": '<table background="{path}"><tr><td style="background-image:url({path})">'
    "Look</td></tr></table> and text after",
    "style sheet": '<link rel="stylesheet" type="text/css" href="{path}">Look and text after',
}


@pytest.mark.parametrize("shape", list(REPLIES))
def test_a_reply_naming_a_local_file_never_reads_it(qtbot, tmp_path: Path, shape: str) -> None:
    pipe = Pipe(tmp_path / "pipe")
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.show()
    try:
        view.begin_reply()
        reply = REPLIES[shape].format(path=pipe.path)
        started = time.perf_counter()
        view.finish_reply(reply)
        qtbot.wait(200)  # laid out and painted
        bubble = view.bubbles[-1]
        bubble.body.grab()
        assert time.perf_counter() - started < 2
    finally:
        pipe.close()
    assert not pipe.opened
    shown = bubble.body.text()
    assert "Look" in shown and "text after" in shown
    assert bubble.raw_text == reply  # copied as written


def test_a_stored_reply_naming_a_local_file_is_not_read_when_the_chat_opens(
    qtbot, tmp_path: Path
) -> None:
    from desktop.ui.views.chat import Bubble

    pipe = Pipe(tmp_path / "pipe")
    try:
        bubble = Bubble(1, "assistant", f"![x]({pipe.path})")
        qtbot.addWidget(bubble)
        bubble.show()
        qtbot.wait(100)
        bubble.body.grab()
    finally:
        pipe.close()
    assert not pipe.opened


@pytest.mark.parametrize(
    "reply",
    [
        "Some **bold**, a [link](https://example.org) and `![x](/dev/zero)` as code",
        # Replies about CSS and HTML name no file either: the words are text, not a tag. They
        # were shown as plain text, their Markdown lost.
        "## Backgrounds\n\nUse `background-image: url(bg.png)` in your CSS.",
        "```css\nbody { background-image: url(bg.png); }\n```",
        "Set background=blue in the config, or write `<img src=x>` in the page.",
    ],
    ids=["code", "css-inline", "css-block", "words"],
)
def test_a_reply_that_names_no_file_is_still_rendered_as_markdown(qtbot, reply: str) -> None:
    from PySide6.QtCore import Qt

    view = ChatView()
    qtbot.addWidget(view)
    view.begin_reply()
    view.finish_reply(reply)
    assert view.bubbles[-1].body.textFormat() == Qt.TextFormat.MarkdownText


def test_a_reply_by_a_model_named_like_html_names_it_as_written(qtbot, tmp_path: Path) -> None:
    """A server names its models: a name that looks like HTML heads its reply as written, and
    an image it names is not read."""
    from PySide6.QtCore import Qt

    from desktop.core.chat.store import MessageInfo
    from desktop.ui.views.chat import Bubble

    pipe = Pipe(tmp_path / "pipe")
    name = f'<img src="{pipe.path}"><b>lab</b>'
    try:
        bubble = Bubble(1, "assistant", "Hello", info=MessageInfo(model_id=name))
        qtbot.addWidget(bubble)
        bubble.show()
        qtbot.wait(100)
        bubble.who.grab()
    finally:
        pipe.close()
    assert not pipe.opened
    assert bubble.who.text() == name
    assert bubble.who.textFormat() == Qt.TextFormat.PlainText


def test_the_status_bar_names_a_model_named_like_html_as_written(
    fake_window, qtbot, tmp_path: Path
) -> None:
    pipe = Pipe(tmp_path / "pipe")
    name = f'lab/<img src="{pipe.path}">'
    try:
        fake_window._model_status(f"Loading {name}…")  # as a server's model loads
        fake_window.statusBar().grab()
    finally:
        pipe.close()
    assert not pipe.opened
    assert fake_window.status_model.text() == f"Loading {name}…"
