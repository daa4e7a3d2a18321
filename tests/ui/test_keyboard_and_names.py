"""Keyboard alone and a screen reader: every control the Tab key reaches has a name, and Tab
goes through the window in reading order (toolbar, History, the chat, the side panels)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import QAbstractSpinBox, QTabWidget, QWidget


def _reachable(widget: QWidget) -> bool:
    return widget.isVisible() and bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus)


# Qt's own parts of a compound control, read through the control, which carries the name.
_PARTS = {"qt_spinbox_lineedit": QAbstractSpinBox, "qt_tabwidget_tabbar": QTabWidget}


def _named(widget: QWidget) -> bool:
    """What a screen reader says for it: Qt's accessibility name (a button's text counts)."""
    owner = _PARTS.get(widget.objectName())
    if owner is not None and isinstance(widget.parent(), owner):
        widget = widget.parent()  # type: ignore[assignment]
    face = QAccessible.queryAccessibleInterface(widget)
    return face is not None and bool(face.text(QAccessible.Text.Name).strip())


def _tab_chain(window: QWidget, start: QWidget) -> list[QWidget]:
    chain, current = [], start
    for _ in range(2000):
        if _reachable(current):
            chain.append(current)
        current = current.nextInFocusChain()
        if current is start:
            break
    return chain


def test_every_control_tab_reaches_has_a_name(fake_window: object, qtbot: object) -> None:
    win = fake_window
    for panel in ("inspector", "sampling"):  # each tab of the right side in turn
        win.findChild(QWidget, panel).raise_()  # type: ignore[attr-defined]
        qtbot.wait(20)  # type: ignore[attr-defined]
        unnamed = [
            f"{type(w).__name__} {w.objectName()!r} in {type(w.parent()).__name__}"
            for w in win.findChildren(QWidget)  # type: ignore[attr-defined]
            if _reachable(w) and not _named(w)
        ]
        assert not unnamed, unnamed


def test_raw_mode_controls_have_names_too(fake_window: object, qtbot: object) -> None:
    win = fake_window
    win.set_mode("raw")  # type: ignore[attr-defined]
    qtbot.wait(20)  # type: ignore[attr-defined]
    unnamed = [
        f"{type(w).__name__} {w.objectName()!r}"
        for w in win.raw_view.findChildren(QWidget)  # type: ignore[attr-defined]
        if _reachable(w) and not _named(w)
    ]
    assert not unnamed, unnamed


def test_tab_goes_through_the_window_in_reading_order(fake_window: object) -> None:
    win = fake_window
    chain = _tab_chain(win, win.picker)  # type: ignore[attr-defined]
    names = [w.accessibleName() for w in chain]
    wanted = [
        "Model",
        "Raw mode",
        "Chat mode",
        "New chat",
        "Search history",
        "Chats and documents",
        "System prompt",
        "Message",
        "Send",
        "Exact prompt text",
    ]
    positions = [names.index(name) for name in wanted]  # each is reached
    assert positions == sorted(positions), names


def test_every_tab_stop_can_be_reached_and_left(fake_window: object) -> None:
    """No trap: Tab from the message box comes back round to it, through every stop."""
    win = fake_window
    chain = _tab_chain(win, win.chat_view.input)  # type: ignore[attr-defined]
    reachable = [w for w in win.findChildren(QWidget) if _reachable(w)]  # type: ignore[attr-defined]
    missing = [w.accessibleName() or type(w).__name__ for w in reachable if w not in chain]
    assert not missing, missing


def test_the_compare_and_models_windows_name_every_control(
    fake_window: object, qtbot: object
) -> None:
    win = fake_window
    win.open_compare()  # type: ignore[attr-defined]
    win.open_models()  # type: ignore[attr-defined]
    for other in (win.compare_window, win.models_dialog):  # type: ignore[attr-defined]
        qtbot.waitExposed(other)  # type: ignore[attr-defined]
        pages = [other]
        tabs = getattr(other, "tabs", None)
        for index in range(tabs.count() if tabs is not None else 0):
            tabs.setCurrentIndex(index)
            qtbot.wait(20)  # type: ignore[attr-defined]
            unnamed = [
                f"{type(w).__name__} {w.objectName()!r} in {type(w.parent()).__name__}"
                for w in other.findChildren(QWidget)
                if _reachable(w) and not _named(w)
            ]
            assert not unnamed, (tabs.tabText(index), unnamed)
        unnamed = [
            f"{type(w).__name__} {w.objectName()!r} in {type(w.parent()).__name__}"
            for page in pages
            for w in page.findChildren(QWidget)
            if _reachable(w) and not _named(w)
        ]
        assert not unnamed, (type(other).__name__, unnamed)
        other.close()
