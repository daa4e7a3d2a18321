"""Duet's look (issue 16, "Look"): the light and dark themes apply cleanly through one call and
reach the palette, the bubbles and the icons; every icon the UI names is bundled, renders, and is
the `lucide` package's own file; the theme setting round-trips; no emoji stands in for an icon."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from PySide6.QtCore import QSize, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QColor, QIcon, QImage, QPalette
from PySide6.QtWidgets import QApplication, QToolButton

from desktop.core.settings import AppSettings, load_settings, save_settings
from desktop.ui import theme
from desktop.ui.icons import UnknownIcon, available, icon
from desktop.ui.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "desktop" / "ui"


@pytest.fixture(autouse=True)
def plain_afterwards(qapp: QApplication) -> Iterator[None]:
    """The application is shared by the whole test session: leave it as other tests expect."""
    yield
    qapp.setStyleSheet("")
    qapp.setPalette(qapp.style().standardPalette())
    theme._state["choice"] = "system"
    theme._state["palette"] = theme.LIGHT


@pytest.fixture
def qt_messages() -> Iterator[list[str]]:
    """Every warning Qt prints while the test runs (a style sheet it cannot parse, say)."""
    messages: list[str] = []

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        if kind != QtMsgType.QtDebugMsg:
            messages.append(message)

    previous = qInstallMessageHandler(handler)
    yield messages
    qInstallMessageHandler(previous)


def icons_package() -> ModuleType:
    spec = importlib.util.spec_from_file_location("duet_icons", ROOT / "packaging" / "icons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def centre(image: QImage) -> QColor:
    return image.pixelColor(image.width() // 2, image.height() // 2)


def close_to(colour: QColor, expected: str, tolerance: int = 40) -> bool:
    want = QColor(expected)
    return (
        abs(colour.red() - want.red())
        + abs(colour.green() - want.green())
        + abs(colour.blue() - want.blue())
        <= tolerance
    )


# The themes ---------------------------------------------------------------------------------


def test_both_themes_apply_to_the_window_without_qt_warnings(
    fake_window: MainWindow, qtbot, qapp: QApplication, qt_messages: list[str]
) -> None:
    for choice in ("light", "dark", "light"):
        theme.apply_theme(qapp, choice)
        fake_window.grab()  # every widget polished and painted with the sheet
        qapp.processEvents()
    assert not [m for m in qt_messages if "style" in m.lower() or "parse" in m.lower()], qt_messages
    assert "${" not in qapp.styleSheet()  # every token was filled in


def test_switching_theme_changes_the_palette_the_bubbles_and_the_icons(
    fake_window: MainWindow, qtbot, qapp: QApplication
) -> None:
    window = fake_window
    window.send_chat("What is the capital of France?")
    qtbot.waitUntil(lambda: not window.busy, timeout=10_000)
    reply = window.chat_view.bubbles[-1]
    copy = icon("copy")
    seen: list[str] = []
    record = seen.append  # one bound method: the lowest PySide6 cannot disconnect a new one
    theme.theme_notifier().changed.connect(record)
    for choice in ("light", "dark"):
        colours = theme.apply_theme(qapp, choice)
        qapp.processEvents()
        assert window.palette().color(QPalette.ColorRole.Window) == QColor(colours.window)
        image = reply.grab().toImage()
        inside = image.pixelColor(4, image.height() - 4)  # inside the rounded corner
        assert close_to(inside, colours.raised, 12), (choice, inside.name(), colours.raised)
        drawn = copy.pixmap(QSize(48, 48)).toImage()
        strokes = [
            drawn.pixelColor(x, y)
            for x in range(48)
            for y in range(48)
            if drawn.pixelColor(x, y).alpha() == 255
        ]
        assert strokes and all(close_to(c, colours.text, 6) for c in strokes), choice
    assert seen == ["light", "dark"]
    theme.theme_notifier().changed.disconnect(record)


def test_system_follows_the_platform_colour_scheme(qapp: QApplication) -> None:
    assert theme.apply_theme(qapp, "system") == theme.PALETTES[theme.resolve("system")]
    assert theme.current_choice() == "system"
    assert theme.apply_theme(qapp, "dark").scheme == "dark"
    assert theme.current_choice() == "dark"


def test_the_kind_colours_read_in_both_themes() -> None:
    """Base amber and instruct blue come from the palette and stand out from its background."""
    for colours in (theme.LIGHT, theme.DARK):
        background = QColor(colours.surface).lightnessF()
        for kind in ("base", "instruct"):
            assert abs(QColor(colours.kind(kind)).lightnessF() - background) > 0.25, (
                colours.scheme,
                kind,
            )
        assert colours.kind("base") != colours.kind("instruct")


def test_the_kind_dot_follows_the_theme(qapp: QApplication) -> None:
    from desktop.ui.views.widgets import KIND_COLOURS, kind_icon

    dot = kind_icon("base")
    for choice in ("light", "dark"):
        colours = theme.apply_theme(qapp, choice)
        assert centre(dot.pixmap(QSize(16, 16)).toImage()).name() == colours.base
        assert KIND_COLOURS["base"] == colours.base


# The setting ----------------------------------------------------------------------------------


def test_the_theme_setting_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    for choice in ("light", "dark", "system"):
        save_settings(AppSettings(theme=choice), path)
        settings, notes = load_settings(path)
        assert (settings.theme, notes) == (choice, [])


def test_a_bad_saved_theme_falls_back_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    for bad in ("purple", 3):
        path.write_text(json.dumps({"theme": bad, "n_ctx": 2048}))
        settings, notes = load_settings(path)
        assert settings.theme == "system"
        assert settings.n_ctx == 2048  # the rest is kept
        assert len(notes) == 1 and "theme" in notes[0], notes


# Icons ----------------------------------------------------------------------------------------

ICON_CALL = re.compile(r"""\bicon\(\s*["']([a-z0-9-]+)["']""")


def names_used() -> set[str]:
    names: set[str] = set()
    for source in UI.rglob("*.py"):
        names.update(ICON_CALL.findall(source.read_text(encoding="utf-8")))
    return names


def test_every_icon_the_ui_names_is_bundled_and_renders(qapp: QApplication) -> None:
    used = names_used()
    assert {"copy", "chevron-left", "chevron-right", "x"} <= used  # the scan finds the calls
    assert used <= available(), sorted(used - available())
    for name in sorted(available()):
        drawn = icon(name)
        assert not drawn.isNull(), name
        for mode in (QIcon.Mode.Normal, QIcon.Mode.Disabled):
            image = drawn.pixmap(QSize(24, 24), mode).toImage()
            assert any(image.pixelColor(x, y).alpha() > 0 for x in range(24) for y in range(24)), (
                name,
                mode,
            )


def test_an_unknown_icon_name_is_a_clear_error() -> None:
    with pytest.raises(UnknownIcon, match=r"no-such-icon.*make icons"):
        icon("no-such-icon")


def test_an_icon_set_on_a_button_shows_on_a_hidpi_screen_too(qtbot) -> None:
    button = QToolButton()
    qtbot.addWidget(button)
    button.setIcon(icon("trash-2"))
    image = button.icon().pixmap(QSize(16, 16), 2.0).toImage()
    assert image.width() == 32  # drawn at the screen's pixels, not scaled up from 16


def test_the_bundled_icons_are_the_lucide_package_files() -> None:
    package = icons_package()
    bundled = {p.stem for p in (ROOT / "resources" / "icons").glob("*.svg")}
    assert bundled == set(package.NAMES)
    for name in sorted(bundled):
        assert (ROOT / "resources" / "icons" / f"{name}.svg").read_bytes() == package.package_svg(
            name
        ), name
    licence = (ROOT / "resources" / "icons" / "LICENSE").read_text()
    assert licence == package.package_licence()
    assert "Lucide" in licence and "Permission to use" in licence  # the ISC text
    readme = (ROOT / "resources" / "icons" / "README.md").read_text()
    assert "lucide" in readme and importlib.metadata.version("lucide") in readme


# No emoji -------------------------------------------------------------------------------------

PICTOGRAPHS = re.compile("[\U0001f000-\U0001ffff\u2600-\u27bf\u25a0-\u25ff\ufe0f]")


def test_no_emoji_or_pictograph_in_the_ui_sources() -> None:
    found = []
    for source in sorted(UI.rglob("*.py")):
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            for char in PICTOGRAPHS.findall(line):
                name = unicodedata.name(char, hex(ord(char)))
                found.append(f"{source.relative_to(ROOT)}:{number}: {name}")
    assert not found, "\n".join(found)


def test_the_emoji_scan_catches_an_emoji() -> None:
    for glyph in ("\U0001f4c4", "\u25c0", "\u2699", "\u2715"):
        assert PICTOGRAPHS.search(f"prefix {glyph}"), hex(ord(glyph))


# Views that paint their own colours ----------------------------------------------------------


def fragment_colours(editor) -> list[tuple[str, QColor | None]]:
    """(text, explicit foreground or None) of every run of text in the editor."""
    from PySide6.QtGui import QTextFormat

    runs = []
    block = editor.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            fmt = fragment.charFormat()
            has = fmt.hasProperty(QTextFormat.Property.ForegroundBrush)
            runs.append((fragment.text(), fmt.foreground().color() if has else None))
            it += 1
        block = block.next()
    return runs


def test_the_notebook_text_reads_after_a_theme_switch(
    fake_window: MainWindow, qtbot, qapp: QApplication
) -> None:
    """Text typed in the light theme was painted black for good: invisible on the dark page."""
    window = fake_window
    theme.apply_theme(qapp, "light")
    window.set_mode("raw")
    qtbot.keyClicks(window.raw_view.editor, "Once upon a time")
    window.continue_raw()
    qtbot.waitUntil(lambda: not window.busy, timeout=10_000)
    qtbot.keyClicks(window.raw_view.editor, " The end.")
    colours = theme.apply_theme(qapp, "dark")
    page = QColor(colours.surface)
    runs = fragment_colours(window.raw_view.editor)
    assert window.raw_view.generated_ranges()  # the model's text is still found by its colour
    for text, colour in runs:
        shown = colour or window.raw_view.editor.palette().color(QPalette.ColorRole.Text)
        assert abs(shown.lightnessF() - page.lightnessF()) > 0.3, (text, shown.name())


def test_the_inspector_special_tokens_follow_the_theme(qapp: QApplication, qtbot) -> None:
    from desktop.ui.views.inspector import PromptInspector, SpecialTokenHighlighter

    inspector = PromptInspector()
    qtbot.addWidget(inspector)
    highlighter = inspector.findChild(SpecialTokenHighlighter)
    assert highlighter is not None
    for choice in ("light", "dark"):
        colours = theme.apply_theme(qapp, choice)
        assert highlighter.special.foreground().color().name() == colours.special


def test_history_rows_and_buttons_carry_drawn_icons(fake_window: MainWindow) -> None:
    sidebar = fake_window.sidebar
    fake_window.send_chat("Hello")
    sidebar.refresh()
    item = sidebar.list.item(0)
    assert item.icon().name() == "message-square"  # a chat's row has a drawn icon too
    from PySide6.QtWidgets import QAbstractButton

    named = {b.text(): b.icon().name() for b in sidebar.findChildren(QAbstractButton)}
    assert named["New chat"] == "message-square-plus"
    assert named["Delete"] == "trash-2"
    assert named["Import…"] == "file-down"


def test_unlikely_is_the_same_red_in_the_heat_view_and_the_chart(qapp: QApplication) -> None:
    from desktop.ui.views.charts import surprise_colour
    from desktop.ui.views.tokens import heat_colour

    for choice in ("light", "dark"):
        colours = theme.apply_theme(qapp, choice)
        red = QColor(colours.danger)
        for colour in (heat_colour(0.0), surprise_colour(12.0), surprise_colour(1.0)):
            assert colour.rgb() == red.rgb(), (choice, colour.name())
        assert surprise_colour(1.0).alphaF() < surprise_colour(12.0).alphaF()
