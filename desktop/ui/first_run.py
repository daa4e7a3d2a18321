"""The page shown when no model is installed: install the offline starter pair (pip, in this
Python environment, with its output shown), or add a .gguf file you already have."""

from __future__ import annotations

from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from desktop.core.starter import INSTALL_HINT, install_commands


class FirstRunPage(QWidget):
    installed = Signal()
    add_file = Signal()
    open_models = Signal()
    check_again = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("<h2>No models installed yet</h2>")
        body = QLabel(
            "Duet runs GGUF models on this machine, offline. Start with the starter pair, a base "
            "model and an instruct model small enough for any laptop: Gemma 3 270M base (253 MB) "
            "and SmolLM2 135M Instruct (98 MB). Or browse the catalog of base/instruct pairs and the "
            "Hugging Face Hub, or add a .gguf file you already have."
        )
        body.setWordWrap(True)
        self.install_button = QPushButton("Install the starter pair")
        self.install_button.setAccessibleName("Install the starter pair")
        self.install_button.clicked.connect(self.install)
        self.install_button.setVisible(bool(install_commands()))
        add = QPushButton("Add a GGUF file…")
        add.setAccessibleName("Add a GGUF file")
        add.clicked.connect(self.add_file)
        browse = QPushButton("Browse models…")
        browse.setAccessibleName("Open the model manager")
        browse.clicked.connect(self.open_models)
        again = QPushButton("Check again")
        again.clicked.connect(self.check_again)
        buttons = QHBoxLayout()
        for button in (self.install_button, browse, add, again):
            buttons.addWidget(button)
        buttons.addStretch(1)
        hint = QLabel(f"From a terminal: <code>{INSTALL_HINT.split(': ', 1)[-1]}</code>")
        hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        hint.setWordWrap(True)
        self.log = QPlainTextEdit(self)
        self.log.setReadOnly(True)
        self.log.setAccessibleName("Installation output")
        self.log.hide()
        column = QVBoxLayout(self)
        column.setContentsMargins(80, 20, 80, 20)
        column.addStretch(1)
        for widget in (title, body):
            column.addWidget(widget)
        column.addLayout(buttons)
        column.addWidget(hint)
        column.addWidget(self.log, 2)
        column.addStretch(1)
        self._queue: list[list[str]] = []
        self.process: QProcess | None = None

    def install(self) -> None:
        self._queue = install_commands()
        self.install_button.setEnabled(False)
        self.log.clear()
        self.log.show()
        self._next()

    def _next(self) -> None:
        if not self._queue:
            self.log.appendPlainText("Done: the starter pair is installed.")
            self.install_button.setEnabled(True)
            self.installed.emit()
            return
        program, *args = self._queue.pop(0)
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(
            lambda: self.log.appendPlainText(
                bytes(process.readAllStandardOutput().data()).decode(errors="replace").rstrip()
            )
        )
        process.finished.connect(self._finished)
        self.log.appendPlainText("$ pip " + " ".join(args[2:]))
        self.process = process
        process.start(program, args)

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        if code != 0 or status != QProcess.ExitStatus.NormalExit:
            self.log.appendPlainText(
                f"pip failed (exit code {code}). Check the network connection to PyPI, or "
                "install from a terminal with the command above."
            )
            self.install_button.setEnabled(True)
            return
        self._next()
