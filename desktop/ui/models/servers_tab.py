"""The Servers tab: the OpenAI-compatible servers Duet knows, the models each one lists,
adding one (its API key kept in the OS keyring) and removing one."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.core.engine import servers as remote
from desktop.core.engine.factory import served_names
from desktop.core.errors import DuetError, InsecureKey
from desktop.ui.dialogs import ask_yes_no
from desktop.ui.models.tree import ROLE, top_items
from desktop.ui.plain_tips import plain_tip
from desktop.ui.threads import Threads


class ServersTab(QWidget):
    models_changed = Signal()  # a server was added or removed: the model picker changes

    def __init__(self, calls: Threads, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.calls = calls
        self.servers_tree = QTreeWidget()
        self.servers_tree.setHeaderLabels(["Server", "URL", "API key from", "Models"])
        self.servers_tree.setAccessibleName("Remote servers")
        for column, width in enumerate((120, 260, 140)):
            self.servers_tree.setColumnWidth(column, width)
        self.server_name = QLineEdit()
        self.server_name.setAccessibleName("Server name")
        self.server_name.setPlaceholderText("name, e.g. lab")
        self.server_url = QLineEdit()
        self.server_url.setAccessibleName("Server URL")
        self.server_url.setPlaceholderText("http://127.0.0.1:8080")
        self.server_key_env = QLineEdit()
        self.server_key_env.setAccessibleName("API key environment variable")
        self.server_key_env.setPlaceholderText("API key env var (optional)")
        self.server_key = QLineEdit()
        self.server_key.setAccessibleName("API key")
        self.server_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.server_key.setPlaceholderText("or an API key, kept in the OS keyring")
        add = QPushButton("Add server")
        add.clicked.connect(self.add_server)
        self.remove_server_button = QPushButton("Remove")
        self.remove_server_button.clicked.connect(self.remove_selected_server)
        self.servers_status = QLabel(
            "Point Duet at an OpenAI-compatible server (llama-server, vLLM, Ollama, LM Studio)."
            " Its models appear in the model picker, marked remote."
        )
        self.servers_status.setWordWrap(True)
        self.servers_status.setTextFormat(Qt.TextFormat.PlainText)  # it quotes what was typed
        form = QHBoxLayout()
        for widget in (self.server_name, self.server_url, self.server_key_env, self.server_key):
            form.addWidget(widget)
        form.addWidget(add)
        layout = QVBoxLayout(self)
        layout.addWidget(self.servers_tree, 1)
        layout.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(self.servers_status, 1)
        row.addWidget(self.remove_server_button)
        layout.addLayout(row)
        self._just_added: str | None = None
        self.refresh_servers()

    def refresh_servers(self) -> None:
        self.servers_tree.clear()
        if warning := remote.servers_warning():
            self.servers_status.setText(warning)
        for server in remote.servers():
            source = f"${server.api_key_env}" if server.api_key_env else "keyring, if set"
            row = QTreeWidgetItem([server.name, server.url, source, "…"])
            row.setData(0, ROLE, server.name)
            self.servers_tree.addTopLevelItem(row)
            self._list_models(server)

    def _list_models(self, server: remote.RemoteServer) -> None:
        name = server.name

        def listed(names: list[str]) -> None:
            self._server_models(name, ", ".join(names) or "none")
            if name == self._just_added:
                self._just_added = None
                self.servers_status.setText(
                    f"Added {name}: its models are in the model picker ({len(names)})."
                    if names
                    else f"Added {name}, but it serves no models yet."
                )

        def failed(message: str) -> None:
            self._server_models(name, message)
            if name == self._just_added:
                self._just_added = None
                self.servers_status.setText(
                    f"Added {name}, but it does not answer: {message} Its models appear in the "
                    "model picker once it does."
                )

        # Listing /v1/models can take seconds on a slow network: off the UI thread.
        self.calls.call(lambda: served_names(server.name), listed, failed)

    def _server_models(self, name: str, text: str) -> None:
        # Looked up by name: the list may have been rebuilt while /v1/models was answering.
        for row in top_items(self.servers_tree):
            if row.data(0, ROLE) == name:
                row.setText(3, text)
                row.setToolTip(3, plain_tip(text))

    def add_server(self) -> None:
        name, url = self.server_name.text().strip(), self.server_url.text().strip()
        key, env = self.server_key.text(), self.server_key_env.text().strip()
        try:
            try:
                remote.add_server(name, url, env, api_key=key)
            except InsecureKey as exc:
                # Checked after everything else, so the question is only asked for a server
                # that would otherwise be added.
                if not self._accept_insecure_key(str(exc)):
                    self.servers_status.setText(
                        f"Not added: the key of {name} would go over plain http. Use an https "
                        "URL, or add it again and accept."
                    )
                    return
                remote.add_server(name, url, env, api_key=key, allow_insecure_key=True)
        except DuetError as exc:
            self.servers_status.setText(str(exc))
            return
        self._just_added = name  # what the status says waits for the server's answer
        self.servers_status.setText(f"Added {name}. Asking it for its models…")
        for field in (self.server_name, self.server_url, self.server_key_env, self.server_key):
            field.clear()
        self.refresh_servers()
        self.models_changed.emit()

    def _accept_insecure_key(self, why: str) -> bool:
        return ask_yes_no(
            self,
            "Send the API key over plain http?",
            f"{why}\n\nSend the key over plain http anyway?",
        )

    def remove_selected_server(self) -> None:
        item = self.servers_tree.currentItem()
        if item is None:
            self.servers_status.setText("Select a server to remove.")
            return
        name: str = item.data(0, ROLE)
        try:
            remote.remove_server(name)
        except DuetError as exc:
            self.servers_status.setText(str(exc))
            return
        self.servers_status.setText(f"Removed {name}.")
        self.refresh_servers()
        self.models_changed.emit()
