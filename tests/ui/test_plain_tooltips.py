"""Tooltips and labels show text from models, servers, files and chats as it is written. Qt
renders any text that looks like HTML as rich text, so a token `<b>` or a server model named
`<img src=…>` would otherwise be formatted (or load an image) instead of being shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidgetItem

from desktop.core.chat.store import ChatSummary
from desktop.core.chat.tokens import TokenRecord
from desktop.core.engine.events import Alternative
from tests.ui.tooltips import HOSTILE, shown


def test_a_token_that_looks_like_html_is_shown_as_written(qtbot) -> None:
    from desktop.ui.views.alternatives import AlternativesPanel

    panel = AlternativesPanel()
    qtbot.addWidget(panel)
    token = TokenRecord(
        token_id=1,
        piece="<b>",
        logprob=-0.1,
        top=(Alternative(1, "<b>", -0.1), Alternative(2, HOSTILE, -2.5)),
    )
    panel.show_token(0, token)
    tips = [button.toolTip() for button in panel.buttons]
    assert repr(HOSTILE) in shown(tips[1])


def test_a_chat_titled_like_html_is_shown_as_written(qtbot) -> None:
    from desktop.ui.views.sidebar import _describe

    item = QListWidgetItem()
    _describe(item, ChatSummary(id=1, kind="chat", title=HOSTILE, updated=0.0, messages=2))
    assert HOSTILE in shown(item.toolTip())


def test_a_file_name_like_html_is_shown_as_written(qtbot) -> None:
    from desktop.ui.models.job_row import _ElidedLabel

    label = _ElidedLabel(HOSTILE)
    qtbot.addWidget(label)
    assert HOSTILE in shown(label.toolTip())


@pytest.mark.parametrize(
    "text", [HOSTILE, "plain words", "a < b and c > d", "", "a long line " * 40 + "\n  indented"]
)
def test_plain_tip_shows_any_text_as_written(qtbot, text: str) -> None:
    from desktop.ui.plain_tips import plain_tip

    assert shown(plain_tip(text)) == text


def test_a_deleted_chat_titled_like_html_is_named_as_written(qtbot, tmp_path: Path) -> None:
    from desktop.core.chat.store import Store
    from desktop.ui.views.sidebar import Sidebar

    store = Store(tmp_path / "history.sqlite3")
    store.create_chat(HOSTILE)
    sidebar = Sidebar(store)
    qtbot.addWidget(sidebar)
    sidebar.refresh()
    sidebar.list.setCurrentRow(0)
    sidebar.delete_selected()
    assert HOSTILE in sidebar.undo_label.text()
    assert sidebar.undo_label.textFormat() == Qt.TextFormat.PlainText
    store.close()


def test_a_server_model_named_like_html_heads_its_samples_as_written(qtbot) -> None:
    from PySide6.QtWidgets import QLabel

    from desktop.core.chat.sampling import SamplingParams
    from desktop.core.models.served import ServerModel
    from desktop.ui.compare.samples_view import SamplesView
    from tests.fakes.engine import FakeEngine

    model = ServerModel(
        id=f"remote:lab/{HOSTILE}", name=HOSTILE, server="lab", kind="instruct", kind_reason="name"
    )
    picked = [(model, "chat"), (model, "raw")]
    view = SamplesView("Hi", None, picked, SamplingParams(), [FakeEngine(), FakeEngine()])
    qtbot.addWidget(view)
    titles = [label for label in view.findChildren(QLabel) if HOSTILE in label.text()]
    assert len(titles) == 2
    assert all(label.textFormat() == Qt.TextFormat.PlainText for label in titles)
