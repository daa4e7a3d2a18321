"""A core ChatSession's events as Qt signals, so widgets connect to them the Qt way (a slot on a
destroyed widget is disconnected by Qt, queued connections work across threads)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from desktop.core.chat.session import ChatSession


class QtChatSession(QObject):
    changed = Signal()
    message_added = Signal(str, str)
    reply_started = Signal(object)
    prompt_ready = Signal(object, int)
    reply_grew = Signal(str, object)
    reply_finished = Signal(object)
    reply_failed = Signal(str, bool)

    def __init__(self, session: ChatSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        events = session.events
        events.changed.connect(self.changed.emit)
        events.message_added.connect(self.message_added.emit)
        events.reply_started.connect(self.reply_started.emit)
        events.prompt_ready.connect(self.prompt_ready.emit)
        events.reply_grew.connect(self.reply_grew.emit)
        events.reply_finished.connect(self.reply_finished.emit)
        events.reply_failed.connect(self.reply_failed.emit)
