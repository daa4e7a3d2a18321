"""Fork at a token in the raw notebook (issue 14, part 2): click a token the model wrote, pick
one of its alternatives (or type text), and the notebook is cut there and continued, as one
step Ctrl+Z takes back. On the real starter base model, whose KV cache the fork reuses."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from desktop.core.chat.fork import MAX_CHOICE_CHARS
from desktop.core.chat.sampling import SamplingParams
from desktop.core.engine.factory import render_input
from desktop.ui.main_window import MainWindow
from desktop.ui.views.raw import RawView
from tests.ui.conftest import done_of, wait_loaded

BASE = "gemma-3-270m"
OPENING = "The lighthouse keeper climbed the narrow stairs, lit the lamp and"


def idle(win: MainWindow, qtbot, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: not win.busy, timeout=timeout)


def settle(win: MainWindow, **changes: object) -> None:
    win._settings_changed(replace(win.settings, **changes))  # type: ignore[arg-type]


def click_char(qtbot, view: RawView, char: int) -> None:
    """A real click on the notebook between characters `char` and `char + 1`."""
    cursor = QTextCursor(view.editor.document())
    cursor.setPosition(char + 1)
    point = view.editor.cursorRect(cursor).center()
    qtbot.mouseClick(view.editor.viewport(), Qt.MouseButton.LeftButton, pos=point)


def continued(window: MainWindow, qtbot, text: str = OPENING, max_tokens: int = 40) -> None:
    """The base model, greedy, continues `text` in the notebook."""
    settle(window, sampling=SamplingParams(max_tokens=max_tokens, temperature=0.0, seed=1))
    if window.model is None or window.model.id != BASE:
        window.select_model(BASE)
        wait_loaded(qtbot, window)
    window.set_mode("raw")
    window.raw_view.set_text(text)
    window.continue_raw()
    idle(window, qtbot)
    assert len(window.raw_view.tokens) > 12


def a_token(view: RawView, after: int = 8) -> int:
    """A generated token at least `after` tokens in, two characters or more, on one line."""
    for index in range(after, len(view.tokens)):
        start = view.token_start(index)
        piece = view.tokens[index].piece
        if (
            start is not None
            and len(piece) >= 2
            and "\n" not in piece
            and len(view.tokens[index].top) >= 2
        ):
            return index
    raise AssertionError("no token to click")


def test_a_continuation_forked_with_the_second_alternative_goes_on_from_there(
    window: MainWindow, qtbot, monkeypatch
) -> None:
    continued(window, qtbot)
    view = window.raw_view
    before = view.text
    k = a_token(view)
    start = view.token_start(k)
    assert start is not None
    click_char(qtbot, view, start)
    panel = view.alternatives
    assert panel.isVisible() and panel.index == k
    second = view.tokens[k].top[1]
    assert second.text != view.tokens[k].piece  # greedy: the model's own was the first
    assert len(panel.buttons) == len(view.tokens[k].top)
    seen = done_of(window, monkeypatch)

    qtbot.mouseClick(panel.buttons[1], Qt.MouseButton.LeftButton)
    assert window.busy and not panel.isVisible()  # it goes on at once
    idle(window, qtbot)

    prefix = before[:start]
    text = view.text
    assert text.startswith(prefix + second.text) and len(text) > len(prefix + second.text)
    assert text != before
    # The choice is the model's: it is in the generated colour, as what follows it.
    ranges = view.generated_ranges()
    assert any(a <= start < b for a, b in ranges)
    assert ranges[-1][1] == len(text)
    # The cache held the text before the fork: only the choice and what follows were new.
    assert seen, "the fork's continuation did not finish"
    stats = seen[-1].stats
    engine = window.engine
    assert engine is not None and window.model is not None
    before_fork = len(engine.tokenize(render_input(window.model, "raw", prefix).text).ids)
    assert stats.cached_tokens >= before_fork - 3, (stats.cached_tokens, before_fork)
    assert stats.prompt_tokens - stats.cached_tokens <= 6

    # One Ctrl+Z: the text before the fork, whole.
    view.editor.setFocus()
    qtbot.keyClick(view.editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert view.text == before
    qtbot.keyClick(
        view.editor,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert view.text == text  # and redo brings the fork back


def test_typed_text_goes_in_plain_and_too_much_is_refused_with_a_message(
    window: MainWindow, qtbot
) -> None:
    continued(window, qtbot, max_tokens=24)
    view = window.raw_view
    before = view.text
    k = a_token(view, after=4)
    start = view.token_start(k)
    assert start is not None
    click_char(qtbot, view, start)
    panel = view.alternatives
    assert panel.isVisible()

    panel.own.setText("x" * (MAX_CHOICE_CHARS + 1))  # as a paste would
    qtbot.mouseClick(panel.go, Qt.MouseButton.LeftButton)
    assert not window.busy and view.text == before
    assert panel.isVisible() and panel.note.isVisible()
    assert f"at most {MAX_CHOICE_CHARS:,}" in panel.note.text()

    panel.own.setText(" and then, quite suddenly,")
    qtbot.keyClick(panel.own, Qt.Key.Key_Return)
    idle(window, qtbot)
    text = view.text
    assert text.startswith(before[:start] + " and then, quite suddenly,")
    assert len(text) > len(before[:start] + " and then, quite suddenly,")
    typed = range(start, start + len(" and then, quite suddenly,"))
    # What was typed is the person's: plain; the model's text after it is generated.
    assert not any(a <= i < b for a, b in view.generated_ranges() for i in typed)
    assert view.generated_ranges()[-1][1] == len(text)
    view.editor.undo()
    assert view.text == before


def test_no_fork_is_offered_while_the_model_writes(fake_window: MainWindow, qtbot) -> None:
    window = fake_window
    window.fake_engines.replies = [
        "one two three four five six seven eight nine ten",
        "eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty",
    ]
    window.set_mode("raw")
    window.raw_view.set_text("Count:")
    window.continue_raw()
    idle(window, qtbot)
    view = window.raw_view
    first = view.token_start(3)
    assert first is not None
    click_char(qtbot, view, first)
    assert view.alternatives.isVisible()

    window.engine.token_delay = 0.1  # type: ignore[union-attr]
    window.continue_raw()
    qtbot.waitUntil(lambda: window.busy, timeout=5_000)
    assert not view.alternatives.isVisible()  # the open panel closes as the model writes
    click_char(qtbot, view, first)
    assert not view.alternatives.isVisible()  # and no click opens it
    view.fork_requested.emit(3, " zero")  # nor does a late request cut the text
    assert window.busy and view.text.startswith("Count:one two three four")
    window.stop()
    idle(window, qtbot, 10_000)
    click_char(qtbot, view, first)
    assert view.alternatives.isVisible()


def test_undo_continuation_after_an_emoji_takes_back_only_the_models_text(
    fake_window: MainWindow, qtbot
) -> None:
    """Qt counts positions in UTF-16 units, an emoji two of them: the continuation's start,
    counted in characters, once cut the person's last letter and left the model's last."""
    window = fake_window
    window.fake_engines.replies = [" swim fast.", " dart away."]
    window.set_mode("raw")
    window.raw_view.set_text("Fish 🐟 can")
    window.continue_raw()
    idle(window, qtbot, 10_000)
    view = window.raw_view
    assert view.text == "Fish 🐟 can swim fast."
    qtbot.mouseClick(view.undo_button, Qt.MouseButton.LeftButton)
    assert view.text == "Fish 🐟 can"
    # And after a fork: the choice stays, what the model wrote after it goes.
    window.fake_engines.replies = [" swim fast.", " dart away."]
    window.continue_raw()
    idle(window, qtbot, 10_000)
    window.fork_raw(len(view.tokens) - 1, " slowly")
    idle(window, qtbot, 10_000)
    assert view.text == "Fish 🐟 can swim slowly dart away."
    qtbot.mouseClick(view.undo_button, Qt.MouseButton.LeftButton)
    assert view.text == "Fish 🐟 can swim slowly"
