"""The main window fits a 1024x640 laptop screen with every panel usable."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication, QDockWidget, QWidget


def _settle(qtbot: object) -> None:
    QApplication.processEvents()
    qtbot.wait(50)  # type: ignore[attr-defined]
    QApplication.processEvents()


def _inside(widget: QWidget, window: QWidget) -> bool:
    top_left = widget.mapTo(window, QPoint(0, 0))
    return window.rect().contains(QRect(top_left, widget.size()))


def test_the_main_window_fits_1024_by_640(fake_window: object, qtbot: object) -> None:
    win = fake_window
    win.resize(1024, 640)  # type: ignore[attr-defined]
    _settle(qtbot)
    assert (win.width(), win.height()) == (1024, 640), win.minimumSizeHint()  # type: ignore[attr-defined]
    # The chat keeps room to read: nearly half the window's width, and no sideways scrolling.
    assert win.chat_view.width() >= 480, win.chat_view.width()  # type: ignore[attr-defined]
    assert not win.chat_view.area.horizontalScrollBar().isVisible()  # type: ignore[attr-defined]
    for dock in win.findChildren(QDockWidget):  # type: ignore[attr-defined]
        if not dock.visibleRegion().isEmpty():  # shown, not a tab behind another
            assert _inside(dock, win), dock.objectName()
    hint = win.minimumSizeHint()  # type: ignore[attr-defined]
    assert hint.width() <= 1024 and hint.height() <= 640, hint
    assert _inside(win.chat_view.input, win) and _inside(win.chat_view.send_button, win)  # type: ignore[attr-defined]


def test_every_sampling_control_can_be_reached_at_1024_by_640(
    fake_window: object, qtbot: object
) -> None:
    win = fake_window
    win.resize(1024, 640)  # type: ignore[attr-defined]
    sampling = win.findChild(QDockWidget, "sampling")  # type: ignore[attr-defined]
    sampling.show()
    sampling.raise_()
    _settle(qtbot)
    panel = win.sampling  # type: ignore[attr-defined]
    for control in (panel.stops, panel.overflow, panel.threads, panel.context):
        panel.ensure_visible(control)
        _settle(qtbot)
        assert control.isVisible() and not control.visibleRegion().isEmpty(), (
            control.accessibleName()
        )


def test_the_inspector_and_sampling_share_the_right_side_as_tabs(fake_window: object) -> None:
    win = fake_window
    inspector = win.findChild(QDockWidget, "inspector")  # type: ignore[attr-defined]
    sampling = win.findChild(QDockWidget, "sampling")  # type: ignore[attr-defined]
    assert win.tabifiedDockWidgets(inspector) == [sampling]  # type: ignore[attr-defined]
