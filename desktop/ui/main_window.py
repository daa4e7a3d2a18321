"""The main window: model picker, the Raw | Chat toggle, the two views, the prompt inspector,
the sampling panel and the status bar. It holds widgets and wiring only: the conversation,
the document and the settings are core objects, and the model runs in an engine process."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QStackedWidget,
    QTabBar,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from desktop.core.chat.aligned import (
    ALIGNED_HINT,
    ALIGNED_STATUS,
    ensure_preamble_file,
    load_preamble,
    preamble_path,
)
from desktop.core.chat.conversation import Conversation, Document
from desktop.core.chat.fork import check_choice
from desktop.core.chat.hints import context_text, explains_difference, mode_hint, mode_label
from desktop.core.chat.history import History, missing_models
from desktop.core.chat.prompts import (
    FALLBACK_NOTE,
    Mode,
    RenderedPrompt,
)
from desktop.core.chat.session import ChatSession, Fitted, ReplySettings
from desktop.core.chat.store import ChatExport, Store, read_checked_export
from desktop.core.chat.tokens import TOP_K
from desktop.core.engine import events as p
from desktop.core.engine.base import Engine
from desktop.core.engine.factory import (
    Runnable,
    aligns_by_examples,
    capabilities_of,
    file_info,
    identity,
    open_engine,
    render_input,
)
from desktop.core.errors import DuetError
from desktop.core.experiments import experiment_named
from desktop.core.models.catalog import Catalog, load_default_catalog
from desktop.core.models.library import Library
from desktop.core.settings import AppSettings, ThemeChoice, load_settings, save_settings
from desktop.ui.chat_files import export_chat
from desktop.ui.engine_slot import EngineOpener, EngineSlot
from desktop.ui.experiments import (
    DIFFERENCE_LINK,
    ExperimentBar,
    ExperimentRun,
    run_experiment,
    show_difference,
)
from desktop.ui.icons import icon
from desktop.ui.menus import build_menus
from desktop.ui.models.downloads import DownloadQueue
from desktop.ui.qt_session import QtChatSession
from desktop.ui.scan import ScanThread
from desktop.ui.theme import apply_theme
from desktop.ui.threads import (
    CallThread,
    GenerationThread,
    Threads,
    TokenBatch,
)
from desktop.ui.views.chat import ChatView
from desktop.ui.views.first_run import FirstRunPage
from desktop.ui.views.inspector import PromptInspector
from desktop.ui.views.model_picker import ModelPicker
from desktop.ui.views.raw import RawView
from desktop.ui.views.sampling import SamplingPanel
from desktop.ui.views.sidebar import Sidebar
from desktop.ui.views.welcome import WelcomePage
from desktop.ui.views.widgets import Banner, ErrorBar, ModeToggle

if TYPE_CHECKING:
    from desktop.ui.compare.window import CompareWindow
    from desktop.ui.models.window import ModelsDialog


class MainWindow(QMainWindow):
    def __init__(self, open_engine: EngineOpener = open_engine) -> None:
        """`open_engine` makes the engine for a chosen model (tests give a fake one)."""
        super().__init__()
        self.setWindowTitle("Duet")
        self.resize(1180, 760)
        self.settings, self.settings_notes = load_settings()
        self.document = Document()
        self.store = Store()
        self.store.purge_deleted(older_than=7 * 24 * 3600)  # deleted chats stay undoable a week
        self.history = History(self.store)
        self.session = ChatSession(self.history, system=self.settings.system_prompt)
        self.chat_events = QtChatSession(self.session, self)
        self.models: list[Runnable] = []
        self.model: Runnable | None = None
        self.generation: GenerationThread | None = None
        self.target: Mode = "chat"  # the view the running generation writes into
        self._raw_reply = ""  # the raw continuation so far (a chat reply is the session's)
        self.retry_action: Callable[[], None] | None = None
        self._mode_error: tuple[Mode, str] | None = None  # an error one mode's work raised
        self._closed_by_delete: tuple[int, str] | None = None  # the open chat History deleted
        self.threads = Threads(self)
        self._engine_status = "No model"
        self.slot = EngineSlot(open_engine, self.threads, self.settings.engine_config())
        self.slot.loaded.connect(self._loaded)
        self.slot.failed.connect(self._load_failed)
        self._stream_started = 0.0
        self._stream_tokens = 0
        self._closed = False

        self.downloads = DownloadQueue(self)
        self.downloads.finished.connect(lambda _job: self.scan_models())
        self.models_dialog: ModelsDialog | None = None
        self.compare_window: CompareWindow | None = None
        self.setAcceptDrops(True)

        # Built in reading order, which is the order Tab goes through them.
        self._build_toolbar()
        self._build_history()
        self._build_central()
        self._build_panels()
        self._build_status()
        self.menus = build_menus(self)
        self._follow_the_session()
        self._reopen_last()
        self.mode_toggle.set_mode(self.settings.mode)
        self._show_mode(self.settings.mode)
        self.scan_models()
        self.downloads.resume_saved()

    @property
    def conversation(self) -> Conversation:
        """The chat shown: the session's."""
        return self.session.conversation

    @property
    def document_id(self) -> int | None:
        """The stored document the notebook's text belongs to (None: not saved yet)."""
        return self.raw_view.document_id

    @document_id.setter
    def document_id(self, document_id: int | None) -> None:
        self.raw_view.document_id = document_id

    @property
    def reply(self) -> str:
        """The text of the reply under way, or of the last one."""
        if self.target == "raw":
            return self._raw_reply
        session = self.session
        return session.reply_text if session.replying else session.finished_reply[0]

    def _follow_the_session(self) -> None:
        """The chat view and the inspector follow the chat session's events."""
        events = self.chat_events
        events.changed.connect(self.show_conversation)
        events.changed.connect(lambda: self.inspector.show_stored(self.session.stored_prompt()))
        events.message_added.connect(self._message_added)
        events.reply_started.connect(self._reply_started)
        events.prompt_ready.connect(self._prompt_ready)
        events.reply_grew.connect(lambda text, _tokens: self.chat_view.append_reply(text))
        events.reply_finished.connect(lambda _done: self._reply_ended())
        events.reply_failed.connect(lambda _message, _crashed: self._reply_ended())

    # Construction ---------------------------------------------------------------------------

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main", self)
        bar.setObjectName("main-toolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(bar)
        self.picker = ModelPicker("Model", self)
        self.picker.setMinimumWidth(260)
        self.picker.setToolTip("Installed models: amber dot = base, blue dot = instruct")
        self.picker.activated.connect(self._picked)
        bar.addWidget(self.picker)
        bar.addSeparator()
        self.mode_toggle = ModeToggle(self)
        self.mode_toggle.changed.connect(self.set_mode)
        bar.addWidget(self.mode_toggle)
        bar.addSeparator()
        self.stop_action = QAction(icon("circle-stop"), "Stop", self)
        self.stop_action.setToolTip("Stop the generation, or cancel editing a message (Esc)")
        self.stop_action.setEnabled(False)
        self.stop_action.triggered.connect(self.escape)
        bar.addAction(self.stop_action)
        self.new_action = QAction(icon("message-square-plus"), "New", self)
        self.new_action.setToolTip("New chat, or an empty document in raw mode (Ctrl+N)")
        self.new_action.triggered.connect(self.new)
        bar.addAction(self.new_action)
        self.open_raw_action = QAction(icon("scroll-text"), "Open chat as raw text", self)
        self.open_raw_action.setToolTip(
            "Put the exact prompt chat mode sends into the raw notebook, template tokens and all"
        )
        self.open_raw_action.triggered.connect(self.open_chat_as_raw)
        bar.addAction(self.open_raw_action)
        bar.addSeparator()
        self.models_action = QAction(icon("download"), "Models…", self)
        self.models_action.setToolTip(
            "Download base/instruct pairs from the Hub, search, import, delete (Ctrl+L)"
        )
        self.models_action.triggered.connect(self.open_models)
        bar.addAction(self.models_action)
        self.compare_action = QAction(icon("columns-2"), "Compare…", self)
        self.compare_action.setToolTip(
            "One input through a base and an instruct model at once (Ctrl+K)"
        )
        self.compare_action.triggered.connect(self.open_compare)
        bar.addAction(self.compare_action)

    def _build_central(self) -> None:
        self.pages = QStackedWidget(self)
        self.setCentralWidget(self.pages)
        # First run, nothing installed.
        self.empty_page = FirstRunPage(self.downloads, self)
        self.empty_page.add_file.connect(self.add_model_file)
        self.empty_page.check_again.connect(self.scan_models)
        self.empty_page.installed.connect(self.scan_models)
        self.empty_page.open_models.connect(self.open_models)
        # First start with models installed (the starter pair comes with Duet).
        self.welcome_page = WelcomePage(self)
        self.welcome_page.experiment_chosen.connect(self.try_experiment)
        self.welcome_page.start_chatting.connect(self.start_chatting)
        self.welcome_page.difference.connect(self.show_difference)
        # The workspace: hints and errors above the two views.
        self.workspace = QWidget()
        self.experiment_bar = ExperimentBar(self.workspace)  # a guided experiment's note
        self.banner = Banner(self.workspace)
        # Hints about base and instruct models lead to the page that explains them.
        self.difference_link = QLabel(
            f"<a href='{DIFFERENCE_LINK}'>What is the difference?</a>", self.banner
        )
        self.difference_link.setAccessibleName("What is the difference?")
        self.difference_link.linkActivated.connect(lambda _link: self.show_difference())
        self.difference_link.hide()
        banner_row = self.banner.layout()
        if banner_row is not None:
            banner_row.addWidget(self.difference_link)
        self.error_bar = ErrorBar(self.workspace)
        self.error_bar.retry.connect(self._retry)
        self.prompt_progress = QProgressBar(self.workspace)
        self.prompt_progress.setFormat("Reading the prompt… %p%")
        self.prompt_progress.setAccessibleName("Prompt progress")
        self.prompt_progress.hide()
        self.views = QStackedWidget(self.workspace)
        self.chat_view = ChatView()
        self.raw_view = RawView()
        self.views.addWidget(self.chat_view)
        self.views.addWidget(self.raw_view)
        self.chat_view.send.connect(self.send_chat)
        self.chat_view.regenerate.connect(self.regenerate)
        self.chat_view.edit.connect(self.edit_message)
        self.chat_view.cancel_edit.connect(self.session.cancel_edit)
        self.chat_view.branch.connect(self.switch_branch)
        self.chat_view.tokens_wanted.connect(
            lambda index: self.chat_view.show_tokens(index, self.session.tokens(index))
        )
        self.chat_view.fork_requested.connect(self.fork_reply)
        self._document_timer = QTimer(self)
        self._document_timer.setSingleShot(True)
        self._document_timer.setInterval(1000)
        self._document_timer.timeout.connect(self.save_document)
        self.raw_view.editor.textChanged.connect(self._document_timer.start)
        self.chat_view.system.setText(self.conversation.system)
        self.chat_view.system.textChanged.connect(self._system_changed)
        self.chat_view.system.editingFinished.connect(self._save_system)
        self.raw_view.continue_requested.connect(self.continue_raw)
        self.raw_view.fork_requested.connect(self.fork_raw)
        self.raw_view.scaffold_inserted.connect(lambda s: self.sampling.add_stops(s.stop))
        layout = QVBoxLayout(self.workspace)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.experiment_bar)
        layout.addWidget(self.banner)
        layout.addWidget(self.error_bar)
        layout.addWidget(self.prompt_progress)
        layout.addWidget(self.views, 1)
        self.pages.addWidget(self.workspace)
        self.pages.addWidget(self.empty_page)
        self.pages.addWidget(self.welcome_page)

    def _build_history(self) -> None:
        self.sidebar = Sidebar(self.store, self)
        self.sidebar.open_chat.connect(self.open_history)
        self.sidebar.new_chat.connect(self.new_chat)
        self.sidebar.deleted.connect(self._history_deleted)
        self.sidebar.restored.connect(self._history_restored)
        self.sidebar.import_requested.connect(self.import_chat)
        sidebar_dock = QDockWidget("History", self)
        sidebar_dock.setObjectName("history")
        sidebar_dock.setWidget(self.sidebar)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, sidebar_dock)
        self.sidebar_dock = sidebar_dock

    def _build_panels(self) -> None:
        self.inspector = PromptInspector(self)
        inspector_dock = QDockWidget("Prompt inspector", self)
        inspector_dock.setObjectName("inspector")
        inspector_dock.setWidget(self.inspector)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, inspector_dock)
        self.sampling = SamplingPanel(self.settings, self)
        self.sampling.changed.connect(self._settings_changed)
        self.sampling.edit_examples.connect(self.edit_examples)
        sampling_dock = QDockWidget("Sampling", self)
        sampling_dock.setObjectName("sampling")
        sampling_dock.setWidget(self.sampling)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, sampling_dock)
        # Tabs, not a stack: each panel gets the full height, so the window fits a laptop
        # screen (1024x640) and the chat keeps at least half of its width.
        self.tabifyDockWidget(inspector_dock, sampling_dock)
        inspector_dock.raise_()
        for tabs in self.findChildren(QTabBar):
            tabs.setAccessibleName("Side panels")
        self.resizeDocks([self.sidebar_dock, inspector_dock], [200, 300], Qt.Orientation.Horizontal)

    def _build_status(self) -> None:
        bar = self.statusBar()
        self.status_model = QLabel("No model")
        self.status_mode = QLabel("")
        self.status_speed = QLabel("– tok/s")
        self.status_context = QLabel("context –")
        self.status_stop = QLabel("")
        for label, name in (
            (self.status_model, "Model status"),
            (self.status_mode, "Mode"),
            (self.status_speed, "Tokens per second"),
            (self.status_context, "Context used"),
            (self.status_stop, "Stop reason"),
        ):
            label.setAccessibleName(name)
            label.setTextFormat(Qt.TextFormat.PlainText)  # a server names its models
            bar.addPermanentWidget(label)
        self.status_model.setMinimumWidth(200)

    # Models -----------------------------------------------------------------------------------

    def scan_models(self) -> None:
        self.status_model.setText("Looking for models…")
        thread = ScanThread(self)
        thread.found.connect(self._models_found)
        thread.failed.connect(self._scan_failed)
        self.threads.start(thread)

    def _scan_failed(self, message: str) -> None:
        self.status_model.setText("Models could not be listed")
        self.retry_action = self.scan_models
        self.error_bar.show_error(message)

    def _models_found(self, models: list[Runnable], problems: list[object]) -> None:
        self.models = models
        if self.compare_window is not None:
            self.compare_window.set_models(models)
        self.picker.show_models(models)
        if not models:
            self.pages.setCurrentWidget(self.empty_page)
            self.status_model.setText("No model")
            return
        # The welcome page until it is left once; and it stays up when a scan (F5, a
        # download ending) comes while it is shown.
        welcome = not self.settings.welcomed or self.pages.currentWidget() is self.welcome_page
        self.pages.setCurrentWidget(self.welcome_page if welcome else self.workspace)
        wanted = self.settings.model_id or self._starter_for(self.mode_toggle.mode)
        chosen = next((m for m in models if m.id == wanted), models[0])
        self.select_model(chosen.id)
        # A configured server that did not answer: its models are missing from the picker.
        notes = self.settings_notes + [n for n in problems if isinstance(n, str)]
        if notes:
            self.error_bar.show_error(" ".join(notes), can_retry=False)

    def _starter_for(self, mode: Mode) -> str:
        kind = "base" if mode == "raw" else "instruct"
        return next((m.id for m in self.models if m.source == "starter" and m.kind == kind), "")

    def _picked(self, index: int) -> None:
        self.leave_welcome()
        self.select_model(self.picker.itemData(index))

    def select_model(self, model_id: str) -> None:
        model = next((m for m in self.models if m.id == model_id), None)
        if model is None:
            return
        self.picker.choose(model_id)
        if self.model is not None and model.id == self.model.id and self.engine is not None:
            self.status_model.setText(self._engine_status)  # a scan found the same model
            return
        self.stop()
        self.model = model
        self._save(replace(self.settings, model_id=model.id))
        self.load_model()
        self._update_hints()

    @property
    def engine(self) -> Engine | None:
        return self.slot.engine

    @property
    def runtime(self) -> p.RuntimeInfo | None:
        """What the loaded engine reported; None while it loads."""
        return self.slot.runtime

    def load_model(self) -> None:
        """Start the selected model's engine (in its own process, for a local one)."""
        if self.model is None:
            return
        self.mode_toggle.buttons["raw"].setEnabled(True)
        self.mode_toggle.buttons["raw"].setToolTip(
            "Raw continuation: your text goes in as it is, no template (Ctrl+M)"
        )
        # A server renders chat with its own template, which Duet cannot show as raw text.
        self.open_raw_action.setEnabled(
            self.mode_toggle.mode == "chat" and not capabilities_of(self.model).renders_template
        )
        self.chat_view.set_fork_blocked(
            "This model's server renders the chat with its own template: Duet cannot hand it "
            "the start of a reply, so a reply cannot be forked at a token (a local model can)"
            if capabilities_of(self.model).renders_template
            else ""
        )
        self._model_status(f"Loading {self.model.id}…")
        self.error_bar.hide()
        self.slot.load(self.model, self.settings.engine_config())

    def _loaded(self, info: p.RuntimeInfo) -> None:
        if self.model is None:
            return
        self._model_status(f"{self.model.id} · {self.model.kind}")
        self.status_context.setText(context_text(0, info.n_ctx))

    def _load_failed(self, message: str) -> None:
        self._model_status("Model failed to load")
        self.retry_action = self.load_model
        self.error_bar.show_error(message)

    def try_experiment(self, experiment_id: str) -> ExperimentRun:
        """Set up and run a guided experiment (the Try this menu); its note says what to look
        for, and everything stays editable."""
        self.leave_welcome()  # the experiment runs in the workspace (or beside it, in compare)
        return run_experiment(self, experiment_named(experiment_id))

    def show_welcome(self) -> None:
        """The welcome page again (Help › Welcome page); with no model, the first-run page."""
        self.pages.setCurrentWidget(self.welcome_page if self.models else self.empty_page)

    def start_chatting(self) -> None:
        """The welcome page's Start chatting: the chat, ready to type in."""
        self.leave_welcome()
        if self.mode_toggle.mode != "chat":
            self.set_mode("chat")
        self.chat_view.input.setFocus(Qt.FocusReason.OtherFocusReason)

    def leave_welcome(self) -> None:
        """Show the workspace if the welcome page is up, and remember that it was seen."""
        if self.pages.currentWidget() is not self.welcome_page:
            return
        self.pages.setCurrentWidget(self.workspace)
        if not self.settings.welcomed:
            self._save(replace(self.settings, welcomed=True))

    def show_difference(self) -> None:
        """The "What is the difference?" page (Help menu, and the links of the mode hints)."""
        show_difference(self)

    def open_models(self) -> None:
        from desktop.ui.models.window import ModelsDialog  # loads the Hub client: not at start

        if self.models_dialog is None:
            self.models_dialog = ModelsDialog(self.downloads, self, n_ctx=self.settings.n_ctx)
            self.models_dialog.models_changed.connect(self.scan_models)
        self.models_dialog.refresh_installed()
        self.models_dialog.show()
        self.models_dialog.raise_()

    def compare_defaults(self) -> tuple[str, str]:
        """The current model's catalog pair if both sides are installed, else the starter
        pair, else the first two models."""
        ids = {m.id for m in self.models}
        pairs = list(self.library_catalog().pairs)
        current = self.model.catalog.pair if self.model and self.model.catalog else None
        pairs.sort(key=lambda pair: pair.id != current)  # the current model's pair first
        for pair in pairs:
            if pair.base.id in ids and pair.instruct.id in ids:
                return pair.base.id, pair.instruct.id
        first = [m.id for m in self.models[:2]]
        return first[0], first[-1]

    def library_catalog(self) -> Catalog:
        return load_default_catalog()

    def open_compare(self) -> None:
        if not self.models:
            self.error_bar.show_error(
                "Install a model first: the compare view needs two.", can_retry=False
            )
            return
        if self.compare_window is None:
            from desktop.ui.compare.window import CompareWindow

            self.compare_window = CompareWindow(
                self.models,
                self.settings,
                self.compare_defaults(),
                open_engine=self.slot.opener,
                catalog=self.library_catalog(),
            )
        self.compare_window.set_settings(self.settings)
        self.compare_window.show()
        self.compare_window.raise_()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.toLocalFile().lower().endswith(".gguf") for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """Dropped .gguf files are imported, as in the Models window."""
        self.open_models()
        assert self.models_dialog is not None
        self.models_dialog.dropEvent(event)

    def add_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Add a GGUF model", str(Path.home()), "GGUF models (*.gguf)"
        )
        if not path:
            return
        # A model file is untrusted and reading it takes a moment: never on the UI thread.
        thread = CallThread(lambda: Library().register(Path(path)), self)
        thread.done.connect(lambda _model: self.scan_models())
        thread.failed.connect(self._add_failed)
        self.threads.start(thread)

    def _add_failed(self, message: str) -> None:
        self.error_bar.show_error(message, can_retry=False)
        self.pages.setCurrentWidget(self.workspace)

    # Modes ------------------------------------------------------------------------------------

    def set_mode(self, mode: Mode) -> None:
        """Switch views: instant, no reload, each mode keeps its own content."""
        if mode != self.mode_toggle.mode:
            self.mode_toggle.set_mode(mode)
            return
        owner = self._mode_error  # an error of the other mode's work says nothing here
        if owner is not None and owner[0] != mode and owner[1] == self.error_bar.message:
            self.error_bar.hide()
        self.leave_welcome()  # a mode picked over the welcome page is the view wanted
        self._show_mode(mode)
        if mode != self.settings.mode:
            self._save(replace(self.settings, mode=mode))

    def _show_mode(self, mode: Mode) -> None:
        self.views.setCurrentWidget(self.raw_view if mode == "raw" else self.chat_view)
        self.inspector.set_mode(mode)
        self._update_actions()
        self.open_raw_action.setEnabled(
            mode == "chat"
            and not (self.model is not None and capabilities_of(self.model).renders_template)
        )
        (self.raw_view.editor if mode == "raw" else self.chat_view.input).setFocus()
        self._update_hints()

    def _update_hints(self) -> None:
        self.banner.show_text(mode_hint(self.model, self.mode_toggle.mode))
        self.difference_link.setVisible(explains_difference(self.model, self.mode_toggle.mode))
        self.status_mode.setText(mode_label(self.model, self.mode_toggle.mode))
        if self._aligned():
            self.banner.show_text(ALIGNED_HINT)
            self.status_mode.setText(ALIGNED_STATUS)

    def _aligned(self) -> bool:
        """Whether the chat shown is aligned by examples: the option is on, and the model in
        use, a base model whose prompt Duet renders, is one it applies to."""
        return (
            self.settings.aligned
            and self.mode_toggle.mode == "chat"
            and self.model is not None
            and aligns_by_examples(self.model)
        )

    def edit_examples(self) -> None:
        """The examples file of Aligned by examples, in the user's text editor (made from the
        default first). Used from the next reply; a broken file is said then."""
        try:
            path = ensure_preamble_file()
        except OSError as exc:
            self.error_bar.show_error(
                f"Could not make the examples file {preamble_path()}: {exc.strerror or exc}.",
                can_retry=False,
            )
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            self.error_bar.show_error(
                f"No program opens text files here: edit {path} in a text editor. "
                "Duet reads it for every aligned reply.",
                can_retry=False,
            )

    def _model_status(self, text: str) -> None:
        """What the status bar says of the engine, kept to say again after a model scan."""
        self._engine_status = text
        self.status_model.setText(text)

    def open_chat_as_raw(self) -> None:
        """The exact text chat mode sends, in the raw notebook: the clearest way to see what a
        chat template does. The template comes from the model file: it renders off the UI
        thread, on a copy of the chat as it is now."""
        if self.model is None:
            return
        info, shown = file_info(self.model), self.conversation
        chat = Conversation(system=shown.system, messages=list(shown.messages))
        aligned = self._aligned()
        thread = CallThread(
            lambda: chat.render(info, aligned=load_preamble() if aligned else None), self
        )
        thread.done.connect(self._show_as_raw)
        thread.failed.connect(lambda message: self.error_bar.show_error(message, can_retry=False))
        self.threads.start(thread)

    def _show_as_raw(self, prompt: RenderedPrompt) -> None:
        """The prompt opens as a new document: the one in the notebook is saved as it is and
        stays in History (Ctrl+Z in the notebook also brings it back)."""
        if self.busy and self.target == "raw":
            self.error_bar.show_error(
                "Stop the continuation first: the notebook is still being written.", False
            )
            return
        self._document_timer.stop()
        self.save_document()
        self.raw_view.open_document(prompt.text, None)
        self._document_timer.stop()
        self.save_document()
        self.set_mode("raw")  # the inspector's raw side: nothing sent yet, nothing counting

    # Actions ----------------------------------------------------------------------------------

    def submit(self) -> None:
        if self.mode_toggle.mode == "raw":
            self.continue_raw()
        else:
            text = self.chat_view.input.toPlainText()
            if text.strip():
                self.send_chat(self.chat_view.take_input())

    def send_chat(self, text: str) -> None:
        if self.busy or not text.strip():
            return
        self.session.add_user(text)
        self._reply()

    def _message_added(self, role: str, text: str) -> None:
        self.chat_view.end_edit()  # a message sent ends an edit: the edit was it
        self.chat_view.add_bubble(role, text, info=self.conversation.info(-1))
        self.sidebar.current = self.conversation.chat_id
        self.sidebar.refresh()
        self._update_actions()

    def _update_actions(self) -> None:
        """Stop (Esc) while a reply streams or a message is edited; Export with a saved chat."""
        chat = self.mode_toggle.mode == "chat"
        editing = self.session.editing is not None and chat
        self.stop_action.setEnabled(self.busy or editing)
        self.menus.regenerate.setEnabled(chat and not self.busy and not editing)
        self.menus.choose_model.setEnabled(not self.busy)
        self.menus.export.setEnabled(
            self.mode_toggle.mode == "chat" and self.conversation.chat_id is not None
        )

    def export_chat(self) -> None:
        """Save the chat shown as Markdown or JSON, as `duet chats export` does."""
        chat_id = self.conversation.chat_id
        if chat_id is not None:
            problem = export_chat(self, self.store, chat_id)
            if problem:
                self.error_bar.show_error(problem, can_retry=False)

    def find_in_history(self) -> None:
        self.sidebar_dock.show()
        self.sidebar_dock.raise_()
        self.sidebar.search.setFocus()
        self.sidebar.search.selectAll()

    def copy_last_reply(self) -> None:
        replies = [m.content for m in self.conversation.messages if m.role == "assistant"]
        text = self._raw_reply if self.mode_toggle.mode == "raw" else (replies or [""])[-1]
        if text:
            QApplication.clipboard().setText(text)

    def regenerate(self) -> None:
        if not self.busy and self.session.regenerate():
            self._reply()

    def fork_reply(self, index: int, token: int, choice: str) -> None:
        """Reply `index` forked at `token`: a new branch of it that begins with its text
        before that token and `choice`, which the model goes on from."""
        if self.busy or self.engine is None or self.model is None:
            return  # no fork is offered while a reply streams; a late click changes nothing
        self._ensure_engine_config()  # before the session is handed the engine
        assert self.engine is not None
        settings = ReplySettings(
            self.settings.sampling, self.settings.overflow, aligned=self.settings.aligned
        )
        try:
            prefill = self.session.fork_reply(index, token, choice)
            job = self.session.start_reply(self.model, self.engine, settings, prefill=prefill)
        except DuetError as exc:
            self._show_mode_error("chat", str(exc))
            return
        self._generate(
            job.prompt,
            "chat",
            retry=lambda: self.fork_reply(index, token, choice),
            prepare=job.prepare,
        )

    def edit_message(self, index: int) -> None:
        """Edit message `index` and resend: it and everything after it leave the chat until
        Send (the edit becomes a new branch) or Cancel (the chat comes back as it was); its
        text goes into the input box, under a bar that says so."""
        if self.busy:
            return
        text = self.session.edit(index)
        if text is not None:
            self.chat_view.begin_edit(index, text)
        self._update_actions()

    def continue_raw(self) -> None:
        if self.busy or self.model is None:
            return
        self.document.text = self.raw_view.text
        if not self.document.text.strip():
            self._show_mode_error(
                "raw", "Write some text first: raw mode continues what you wrote."
            )
            return
        prompt = render_input(self.model, "raw", self.document.text)
        self.raw_view.begin_continuation()
        self._generate(prompt, "raw", retry=self.continue_raw)

    def fork_raw(self, index: int, choice: str) -> None:
        """Token `index` of the notebook replaced by `choice`, the text after it cut, and the
        model goes on at once; the prompt is the text up to the choice, which the engine's KV
        cache holds all but the choice of."""
        if self.busy or self.model is None:
            return  # no fork is offered while the model writes; a late click changes nothing
        try:
            check_choice(choice)
        except DuetError as exc:
            self._show_mode_error("raw", str(exc))
            return
        if not self.raw_view.fork(index, choice):
            self._show_mode_error(
                "raw", "That token is no longer in the text: click a token the model wrote."
            )
            return
        self.document.text = self.raw_view.text
        prompt = render_input(self.model, "raw", self.document.text)
        self._generate(prompt, "raw", retry=self.continue_raw)

    def _reply(self) -> None:
        if self.engine is None or self.model is None:
            return
        self._ensure_engine_config()  # before the session is handed the engine
        assert self.engine is not None
        settings = ReplySettings(
            self.settings.sampling, self.settings.overflow, aligned=self.settings.aligned
        )
        job = self.session.start_reply(self.model, self.engine, settings)
        self._generate(job.prompt, "chat", retry=self.regenerate, prepare=job.prepare)

    def _reply_started(self, prompt: RenderedPrompt) -> None:
        self.chat_view.begin_reply(self.session.reply_info)
        if self.session.reply_text:  # a fork: it begins with the text before the token
            self.chat_view.append_reply(self.session.reply_text)

    def _prompt_ready(self, prompt: RenderedPrompt, dropped: int) -> None:
        """The prompt as fitted to the context: show it, and grey the turns left out."""
        self._show_prompt(prompt)
        self.chat_view.mark_dropped(dropped)
        if dropped:
            self.banner.show_text(
                f"The chat outgrew the context: the model no longer sees the first "
                f"{dropped} messages (greyed out)."
            )

    def _reply_ended(self) -> None:
        text, tokens, texts = self.session.finished_reply
        if text:
            self.chat_view.finish_reply(text, tokens, texts)
            self.show_branch_controls()
        else:
            self.chat_view.drop_reply()
        self.sidebar.refresh()

    def stop(self) -> None:
        if self.engine is not None and self.generation is not None:
            self.engine.cancel()

    def escape(self) -> None:
        """Esc: stop the generation, or else cancel the edit of a message."""
        if self.generation is not None:
            self.stop()
        elif self.session.editing is not None and self.mode_toggle.mode == "chat":
            self.session.cancel_edit()

    def new(self) -> None:
        if self.busy:
            return
        self.leave_welcome()
        if self.mode_toggle.mode == "raw":
            self.save_document()
            self.raw_view.open_document("", None)
            self._document_timer.stop()
        else:
            self.session.new(self.chat_view.system.text())
            self.sidebar.current = None
            self.sidebar.refresh()
        self.error_bar.hide()

    # Generation -------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.generation is not None

    def _generate(
        self,
        prompt: RenderedPrompt,
        target: Mode,
        retry: Callable[[], None],
        prepare: Callable[[], Fitted] | None = None,
    ) -> None:
        if self.engine is None or self.model is None:
            return
        self._ensure_engine_config()
        self.error_bar.hide()
        self.retry_action = retry
        self.target, self._raw_reply = target, ""
        self._show_prompt(prompt)
        self._stream_started, self._stream_tokens = 0.0, 0
        self.status_stop.setText("generating…")
        thread = GenerationThread(
            self.engine, prompt, self.settings.sampling, TOP_K, parent=self, prepare=prepare
        )
        thread.prepared.connect(self.session.prepared)
        thread.batch.connect(self._on_batch)
        thread.progress.connect(self._on_progress)
        thread.done.connect(self._on_done)
        thread.failed.connect(lambda message: self._on_failed(message, crashed=False))
        thread.crashed.connect(lambda message: self._on_failed(message, crashed=True))
        self.generation = thread
        self._set_busy(True)
        self.threads.start(thread)

    def _ensure_engine_config(self) -> None:
        if self.settings.engine_config() != self.slot.config:
            self.load_model()  # context or threads changed: load again with them

    def _show_prompt(self, prompt: RenderedPrompt) -> None:
        # The inspector lists every stop string the reply uses: the prompt's and the person's.
        stops = self.settings.sampling.stops_with(prompt.stop)
        self.inspector.show_prompt(replace(prompt, stop=stops))
        for note in prompt.notes:
            if note != FALLBACK_NOTE:
                self.banner.show_text(note)

    def _on_batch(self, batch: TokenBatch) -> None:
        self.prompt_progress.hide()
        now = time.perf_counter()
        if not self._stream_started:
            self._stream_started = now
        self._stream_tokens += sum(1 for t in batch.tokens if t.token_id >= 0)
        if self.target == "chat":
            self.session.grow(batch.text, batch.tokens)
        else:
            self._raw_reply += batch.text
            self.raw_view.append_generated(batch.text, batch.tokens)
        elapsed = now - self._stream_started
        if elapsed > 0.2:
            self.status_speed.setText(f"{(self._stream_tokens - 1) / elapsed:.1f} tok/s")

    def _on_progress(self, done: int, total: int) -> None:
        self.prompt_progress.setMaximum(total)
        self.prompt_progress.setValue(done)
        self.prompt_progress.show()

    def _on_done(self, done: p.Done) -> None:
        self._finish_stream(done, "")
        stats = done.stats
        self.status_speed.setText(f"{stats.tokens_per_second:.1f} tok/s")
        self.status_context.setText(context_text(stats.context_used, stats.context_size))
        self.status_stop.setText(f"stopped: {done.reason.describe()}")
        self.inspector.show_counts(stats.prompt_tokens, stats.cached_tokens)

    def _on_failed(self, message: str, crashed: bool) -> None:
        self._finish_stream(None, message, crashed)
        self.inspector.show_unanswered(self.target)
        if self.engine is not None and not self.engine.capabilities.can_raw:  # no /v1/completions
            raw = self.mode_toggle.buttons["raw"]
            raw.setEnabled(False)
            raw.setToolTip(
                "This server has no /v1/completions, so raw mode is unavailable for its models."
            )
            self.set_mode("chat")
        self.status_stop.setText("engine crashed" if crashed else "failed")
        if crashed:
            self._model_status(f"{self.model.id if self.model else ''} · restarts on retry")
        self._show_mode_error(self.target, message, can_retry=True)

    def _show_mode_error(self, mode: Mode, message: str, can_retry: bool = False) -> None:
        """An error of one mode's work (a continuation, a reply): switching to the other mode
        hides it, as it says nothing about that mode's content."""
        self._mode_error = (mode, message)
        self.error_bar.show_error(message, can_retry)

    def _finish_stream(self, done: p.Done | None, failure: str, crashed: bool = False) -> None:
        self.prompt_progress.hide()
        if self.target == "chat":
            self.session.finish(done, failure, crashed)
        else:
            self.raw_view.end_continuation()
            self.document.text = self.raw_view.text
            self.save_document()
        self.generation = None
        self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        self._update_actions()
        self.chat_view.set_busy(busy)
        self.raw_view.set_busy(busy)
        self.picker.setEnabled(not busy)
        self.new_action.setEnabled(not busy)

    def _retry(self) -> None:
        self.error_bar.hide()
        if self.retry_action is not None:
            self.retry_action()

    # History ----------------------------------------------------------------------------------

    def _branches(self) -> dict[int, tuple[int, int]]:
        """ "2/3" for every message of the chat that has alternatives."""
        return dict(enumerate(self.session.branches()))

    def show_conversation(self) -> None:
        self.chat_view.show_conversation(self.conversation, self._branches())
        if self.session.editing is None:
            self.chat_view.end_edit()  # cancelled, or another chat or branch was shown
        self._update_actions()

    def show_branch_controls(self) -> None:
        """After a reply: its "2/3", kept by the view for when it shows more messages."""
        self.chat_view.set_branches(self._branches())

    def switch_branch(self, index: int, delta: int) -> None:
        if not self.busy:
            self.session.switch_branch(index, delta)

    def open_history(self, chat_id: int, kind: str) -> None:
        if self.busy:
            return
        self.leave_welcome()
        try:
            if kind == "document":
                self.save_document()
                self.raw_view.open_document(self.store.document(chat_id), chat_id)
                self._document_timer.stop()
                self.set_mode("raw")
            else:
                self.session.open(chat_id)
                self.chat_view.system.blockSignals(True)
                self.chat_view.system.setText(self.conversation.system)
                self.chat_view.system.blockSignals(False)
                self.set_mode("chat")
        except DuetError as exc:
            self.error_bar.show_error(str(exc), can_retry=False)

    def _reopen_last(self) -> None:
        """The chat and the raw document that were open when Duet closed open again; one
        deleted or unreadable since is left closed."""
        chat_id, document_id = self.settings.open_chat, self.settings.open_document
        try:
            if chat_id and self.store.chat(chat_id).kind == "chat":
                self.session.open(chat_id)
                self.chat_view.system.blockSignals(True)
                self.chat_view.system.setText(self.conversation.system)
                self.chat_view.system.blockSignals(False)
        except DuetError:
            pass  # deleted since, or damaged: the chat starts empty
        try:
            if document_id and self.store.chat(document_id).kind == "document":
                self.raw_view.open_document(self.store.document(document_id), document_id)
                self._document_timer.stop()
        except DuetError:
            pass  # likewise the notebook
        self.sidebar.current = (
            self.document_id if self.settings.mode == "raw" else self.conversation.chat_id
        )

    def new_chat(self) -> None:
        self.set_mode("chat")
        self.new()

    def _history_restored(self, chat_id: int, kind: str) -> None:
        """Undo of a delete in History: the chat or document the delete closed opens again,
        unless the person has gone on to another one since."""
        closed, self._closed_by_delete = self._closed_by_delete, None
        if closed != (chat_id, kind):
            return
        if kind == "document":
            blank = self.document_id is None and not self.raw_view.text.strip()
        else:
            blank = self.conversation.chat_id is None and not self.conversation.messages
        if blank:
            self.sidebar.current = chat_id
            self.open_history(chat_id, kind)

    def _history_deleted(self, chat_id: int) -> None:
        if chat_id in (self.conversation.chat_id, self.document_id):
            kind = "chat" if chat_id == self.conversation.chat_id else "document"
            self._closed_by_delete = (chat_id, kind)
        self.session.forget(chat_id)
        if self.document_id == chat_id:
            self.raw_view.open_document("", None)
            self._document_timer.stop()
        self.raw_view.forget_document(chat_id)  # an undo back to its text saves a new one

    def import_chat(self, path: Path | None = None) -> None:
        """Open a chat exported as JSON; warn about the models it needs that are missing."""
        if path is None:
            name, _ = QFileDialog.getOpenFileName(
                self, "Import a chat", str(Path.home()), "Duet chat (*.json)"
            )
            if not name:
                return
            path = Path(name)
        # Reading and checking a large export takes seconds: in a worker thread. The database
        # is written here, on the UI thread that owns the connection.
        thread = CallThread(lambda: read_checked_export(path), self)
        thread.done.connect(self._import_checked)
        thread.failed.connect(lambda message: self.error_bar.show_error(message, can_retry=False))
        self.threads.start(thread)

    def _import_checked(self, result: tuple[object, ChatExport]) -> None:
        data, export = result
        try:
            chat_id = self.store.import_export(export)  # all of it or nothing
        except DuetError as exc:
            self.error_bar.show_error(str(exc), can_retry=False)
            return
        self.sidebar.current = chat_id
        self.sidebar.refresh()
        self.open_history(chat_id, self.store.chat(chat_id).kind)
        warnings = missing_models(data, [identity(m) for m in self.models])
        if warnings:
            self.error_bar.show_error(" ".join(warnings), can_retry=False)

    def save_document(self) -> None:
        text = self.raw_view.text
        if not text.strip() and self.document_id is None:
            return
        if self.document_id is not None or text.strip():
            new = self.document_id is None
            try:
                self.document_id = self.history.save_document(self.document_id, text)
            except DuetError as exc:  # a full disk: the text stays in the editor, said here
                self.error_bar.show_error(str(exc), can_retry=False)
                return
            if new:
                self.sidebar.current = self.document_id
                self.sidebar.refresh()

    # Settings ---------------------------------------------------------------------------------

    def _settings_changed(self, settings: AppSettings) -> None:
        # Only the panel's own fields: its copy of the others (the theme, the welcome page
        # seen) may be older than the window's.
        self._save(
            replace(
                self.settings,
                sampling=settings.sampling,
                n_ctx=settings.n_ctx,
                n_threads=settings.n_threads,
                overflow=settings.overflow,
                aligned=settings.aligned,
            )
        )
        self._update_hints()  # Aligned by examples changes what the chat's hint and status say

    def _system_changed(self, text: str) -> None:
        self.session.set_system(text)

    def _save_system(self) -> None:
        self._save(replace(self.settings, system_prompt=self.chat_view.system.text()))

    def set_theme(self, choice: ThemeChoice) -> None:
        """The look, applied to every window at once and saved."""
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, choice)
        self._save(replace(self.settings, theme=choice))

    def _save(self, settings: AppSettings) -> None:
        self.settings = settings
        if self.compare_window is not None:
            self.compare_window.set_settings(settings)
        try:
            save_settings(settings)
        except (OSError, DuetError) as exc:
            self.error_bar.show_error(f"Could not save settings: {exc}", can_retry=False)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closed:  # closed once already (SIGTERM, then the window's own close)
            super().closeEvent(event)
            return
        self._closed = True
        self.stop()
        self.downloads.pause_all()  # kept, and continued at the next start
        self._document_timer.stop()  # saved now: a later tick would find the store closed
        self.save_document()
        self._save(
            replace(
                self.settings,
                system_prompt=self.chat_view.system.text(),
                open_chat=self.conversation.chat_id or 0,
                open_document=self.document_id or 0,
            )
        )
        self.threads.wait(5000)
        # The stopped reply's last words and its end are queued signals from the generation
        # thread: deliver them now, while the history is open, so the reply is saved.
        QCoreApplication.sendPostedEvents()
        self.slot.close()
        if self.compare_window is not None:
            self.compare_window.close()
        self.store.close()
        super().closeEvent(event)
