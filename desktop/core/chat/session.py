"""ChatSession: one chat's turns, Qt-free. It owns the conversation shown, the reply while it
streams (its one copy), saving into the history, the overflow policy and what each reply
records to be reproduced; it announces what changed, and views subscribe.

The pattern is napari's: a model with events (psygnal, which napari uses) that Qt views connect
to, so the window holds no chat state and the session is tested without a display. Everything
here runs on the thread that owns the store (the UI thread); the one piece of work that must
not, fitting the chat to the context (the template comes from a model file and counting tokens
asks the engine), is handed out as `ReplyJob.prepare`, which touches only copies.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

from psygnal import Signal, SignalGroup

from desktop.core.chat.aligned import ALIGNED_TEMPLATE_NAME, load_preamble
from desktop.core.chat.conversation import Conversation, Overflow
from desktop.core.chat.fork import Fork, choice_record, fork_at, forked_prompt
from desktop.core.chat.history import History
from desktop.core.chat.prompts import FALLBACK_TEMPLATE_NAME, RenderedPrompt, template_of
from desktop.core.chat.sampling import SamplingParams
from desktop.core.chat.store import MessageInfo, MessageMeta, ReplyTokens
from desktop.core.chat.tokens import TokenRecord
from desktop.core.engine import events as p
from desktop.core.engine.base import Engine
from desktop.core.engine.factory import (
    Runnable,
    aligns_by_examples,
    file_info,
    identity,
    render_messages,
)
from desktop.core.errors import DuetError, InvalidPrompt, Unsupported


class ChatEvents(SignalGroup):
    """What a ChatSession announces. Every event is emitted on the session's own thread."""

    changed = Signal()  # the conversation shown was replaced or reshaped: show it again
    message_added = Signal(str, str)  # role, text: a message joined the end of the chat
    reply_started = Signal(object)  # RenderedPrompt: what is known of the prompt so far
    prompt_ready = Signal(object, int)  # RenderedPrompt as sent, messages the model cannot see
    reply_grew = Signal(str, object)  # the text added, tuple[p.Token, ...] behind it
    reply_finished = Signal(object)  # p.Done
    reply_failed = Signal(str, bool)  # the message, whether the engine crashed


@dataclass(frozen=True)
class ReplySettings:
    """What a reply is made with, fixed when it starts."""

    sampling: SamplingParams
    overflow: Overflow
    aligned: bool = False  # a base model chats after example exchanges (Aligned by examples)


@dataclass(frozen=True)
class ReplyJob:
    """A reply to run: the prompt to show now and, when the chat must first be fitted to the
    context, the work that makes the real one (run it off the UI thread, then hand its result
    to `ChatSession.prepared`)."""

    prompt: RenderedPrompt
    prepare: Callable[[], Fitted] | None = None


@dataclass(frozen=True)
class Fitted:
    prompt: RenderedPrompt
    dropped: int  # how many of the first messages the model does not see


@dataclass(frozen=True)
class Prefill:
    """The start a new reply is given: reply `message` forked at one of its tokens. The new
    reply is another branch of that one; its token records begin with `tokens` (the
    original's before the fork, then the choice's)."""

    message: int  # the shown reply forked, by its index in the chat
    message_id: int  # and by its stored id: the chat must still show it when the reply starts
    fork: Fork
    tokens: ReplyTokens


@dataclass(frozen=True)
class StoredPrompt:
    """The prompt a shown reply was made from, as saved with it: what the inspector shows for a
    chat that was reopened rather than sent to now."""

    prompt: RenderedPrompt
    model_id: str
    prompt_tokens: int  # 0 when not counted (some servers send no counts)
    cached_tokens: int
    created: float | None


@dataclass
class _Reply:
    model: Runnable
    settings: ReplySettings
    prompt: RenderedPrompt
    info: MessageInfo
    text: str = ""
    tokens: list[TokenRecord] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # what each token added to the text


class ChatSession:
    def __init__(self, history: History, system: str = "") -> None:
        self.history = history
        self.conversation = Conversation(system=system)
        self.events = ChatEvents()
        self._reply: _Reply | None = None
        # The last reply that ended: its text, its tokens and what each token added.
        self.finished_reply: tuple[str, list[TokenRecord], list[str]] = ("", [], [])
        # The last reply's records by message id, for a reply too long to store them.
        self._kept_tokens: tuple[int | None, ReplyTokens | None] = (None, None)
        self.editing: int | None = None  # the message being edited, until Send or cancel_edit
        self._before_edit: Conversation | None = None  # the chat as it was, for cancel_edit

    # The reply under way ------------------------------------------------------------------------

    @property
    def replying(self) -> bool:
        return self._reply is not None

    @property
    def reply_text(self) -> str:
        return self._reply.text if self._reply else ""

    @property
    def last_prompt(self) -> RenderedPrompt | None:
        return self._reply.prompt if self._reply else None

    @property
    def reply_info(self) -> MessageInfo:
        """The reply under way's info: when it began and the model writing it."""
        return self._reply.info if self._reply else MessageInfo()

    def fork_reply(self, index: int, token: int, choice: str) -> Prefill:
        """The start of a new branch of shown reply `index`: its text before token `token`,
        then `choice`. Nothing changes until it is handed to `start_reply`; a fork that cannot
        be raises InvalidPrompt, saying why."""
        if self._reply is not None:
            raise InvalidPrompt("The model is writing: stop it or wait before forking a reply.")
        if self.editing is not None:
            raise InvalidPrompt("A message is being edited: send or cancel the edit first.")
        conversation = self.conversation
        if not (
            0 <= index < len(conversation.messages)
            and conversation.messages[index].role == "assistant"
        ):
            raise InvalidPrompt("Only a model's reply can be forked: click a token of one.")
        kept = self.tokens(index)
        message_id = conversation.ids[index]
        if kept is None or message_id is None:
            raise InvalidPrompt(
                "This reply's tokens were not kept, so it cannot be forked at one: "
                "regenerate it, then fork the new reply."
            )
        fork = fork_at(kept.texts, token, choice)
        tokens = ReplyTokens(
            (*kept.records[:token], choice_record(kept.records[token], choice)),
            (*kept.texts[:token], choice),
        )
        return Prefill(index, message_id, fork, tokens)

    def start_reply(
        self,
        model: Runnable,
        engine: Engine,
        settings: ReplySettings,
        prefill: Prefill | None = None,
    ) -> ReplyJob:
        """Begin the reply to the last message: an empty, incomplete reply is saved now and
        filled in while it streams. With `prefill` (see `fork_reply`) it is a new branch of the
        reply forked, already begun: the model goes on after its text (llama.cpp's assistant
        prefill), so a local engine reuses its cache for all of it."""
        if prefill is not None:
            self._branch_for(prefill, engine)
        conversation = self.conversation
        if engine.capabilities.renders_template:
            # A server: the messages go as they are, its template renders them.
            job = ReplyJob(
                render_messages(model, conversation.messages, conversation.system or None)
            )
        else:
            info = file_info(model)
            template = template_of(info)
            name = template.name if template is not None else FALLBACK_TEMPLATE_NAME
            aligned = settings.aligned and aligns_by_examples(model)
            if aligned:
                name = ALIGNED_TEMPLATE_NAME
            # A copy: fitting runs in another thread, and the shown chat must not change there.
            chat = Conversation(system=conversation.system, messages=list(conversation.messages))

            def prepare() -> Fitted:
                # A reply already begun takes room in the context too.
                begun = len(engine.tokenize(prefill.fork.text).ids) if prefill else 0
                prompt = chat.fit(
                    info,
                    lambda text: len(engine.tokenize(text).ids),
                    engine.load().n_ctx,
                    settings.sampling.max_tokens + begun,
                    settings.overflow,
                    aligned=load_preamble() if aligned else None,  # a file: off the UI thread
                )
                if prefill is not None:
                    prompt = forked_prompt(prompt, prefill.fork, engine.capabilities)
                return Fitted(prompt, chat.dropped)

            # Until it is fitted, the inspector names the template and shows no text.
            job = ReplyJob(RenderedPrompt(text="", mode="chat", template_name=name), prepare)
        self.history.begin_reply(conversation)
        writer = MessageInfo(created=time.time(), model_id=model.id, model_kind=model.kind)
        self._reply = _Reply(model, settings, job.prompt, writer)
        if prefill is not None:
            # Shown as a fresh reply would be: without the space a transcript's turn starts with.
            self._reply.text = prefill.fork.text.lstrip()
            self._reply.tokens = list(prefill.tokens.records)
            self._reply.texts = list(prefill.tokens.texts)
        self.events.reply_started.emit(job.prompt)
        return job

    def _branch_for(self, prefill: Prefill, engine: Engine) -> None:
        """Take the forked reply (and what follows it) out of the chat shown, as regenerate
        does: the new reply becomes its sibling. Checked first, so a refusal changes nothing."""
        if not engine.capabilities.can_raw or engine.capabilities.renders_template:
            raise Unsupported(
                "This model is sent chat messages, not text: it cannot go on from a chosen "
                "token. Forking a reply needs a local model.",
                capability="can_raw",
            )
        if self._reply is not None or self.editing is not None:
            raise InvalidPrompt("Stop the reply or finish the edit before forking a reply.")
        conversation = self.conversation
        index = prefill.message
        if not (
            0 <= index < len(conversation.ids) and conversation.ids[index] == prefill.message_id
        ):
            raise InvalidPrompt("The chat changed since the token was clicked: click it again.")
        conversation.truncate(index)
        self.events.changed.emit()

    def prepared(self, fitted: Fitted) -> None:
        """The prompt as fitted to the context; the first `dropped` messages are left out."""
        if self._reply is None:
            return
        self._reply.prompt = fitted.prompt
        self.conversation.dropped = fitted.dropped
        self.events.prompt_ready.emit(fitted.prompt, fitted.dropped)

    def grow(self, text: str, tokens: Sequence[p.Token]) -> None:
        """Tokens arrived: the reply grows, and is saved every so often."""
        reply = self._reply
        if reply is None:
            return
        for token in tokens:
            if token.token_id >= 0:
                reply.tokens.append(TokenRecord.of(token))
                reply.texts.append(token.text)
            elif reply.texts:  # text released at the end, held back for a stop string
                reply.texts[-1] += token.text
        if not reply.text:  # a transcript reply starts after "Assistant:"'s space
            text = text.lstrip()
        reply.text += text
        self.history.stream(reply.text)
        self.events.reply_grew.emit(text, tuple(tokens))

    def finish(self, done: p.Done | None, failure: str = "", crashed: bool = False) -> None:
        """The reply ended: with `done`, or failed with `failure` (its text so far is kept)."""
        reply, self._reply = self._reply, None
        if reply is None:
            return
        state = "crashed" if crashed else "failed"
        meta = self._meta(reply, done, "" if done is not None else state)
        conversation = self.conversation
        shown = len(conversation.messages)
        self.history.finish_reply(conversation, reply.text, meta)
        self.finished_reply = (reply.text, reply.tokens, reply.texts)
        if len(conversation.messages) > shown:  # kept: nothing is kept of an empty reply
            self._keep_tokens(conversation, reply)
        if done is not None:
            self.events.reply_finished.emit(done)
        else:
            self.events.reply_failed.emit(failure, crashed)

    def _keep_tokens(self, conversation: Conversation, reply: _Reply) -> None:
        """Store the reply's token records with it, so its Tokens view survives a branch
        switch, reopening and a restart; and say so in its info."""
        message_id = conversation.last_id
        tokens = ReplyTokens(tuple(reply.tokens), tuple(reply.texts)) if reply.tokens else None
        self._kept_tokens = (message_id, tokens)
        stored = (
            message_id is not None
            and tokens is not None
            and self.history.store.save_tokens(message_id, tokens)
        )
        conversation.infos[-1] = replace(reply.info, has_tokens=stored)

    def tokens(self, index: int) -> ReplyTokens | None:
        """Shown message `index`'s token records, when they are kept (None for a user
        message, a reply made before they were stored, or a damaged record)."""
        conversation = self.conversation
        if not 0 <= index < len(conversation.ids) or conversation.ids[index] is None:
            return None
        message_id = conversation.ids[index]
        kept_id, kept = self._kept_tokens
        if kept is not None and kept_id == message_id:
            return kept
        assert message_id is not None
        return self.history.store.tokens(message_id)

    def stored_prompt(self) -> StoredPrompt | None:
        """The prompt saved with the last reply shown, or None when there is none (no reply
        yet, or one saved without its prompt, as an import may be)."""
        conversation = self.conversation
        for index in range(len(conversation.messages) - 1, -1, -1):
            message_id = conversation.ids[index]
            if conversation.messages[index].role == "assistant" and message_id is not None:
                break
        else:
            return None
        try:
            stored = self.history.store.message(message_id)
            meta = stored.meta
        except (DuetError, ValueError, TypeError):  # gone, or a damaged meta: nothing to show
            return None
        if not (meta.prompt and isinstance(meta.prompt, str)):
            return None
        # A meta is only parsed JSON: any field may hold the wrong type in a damaged row.
        stats = meta.stats if isinstance(meta.stats, dict) else {}
        template = meta.template if isinstance(meta.template, str) else ""
        return StoredPrompt(
            RenderedPrompt(text=meta.prompt, mode="chat", template_name=template or None),
            meta.model_id if isinstance(meta.model_id, str) else "",
            _count(stats.get("prompt_tokens")),
            _count(stats.get("cached_tokens")),
            stored.created,
        )

    def _meta(self, reply: _Reply, done: p.Done | None, failure: str) -> MessageMeta:
        """Everything needed to reproduce the reply that just ended."""
        model, prompt, stats = identity(reply.model), reply.prompt, done.stats if done else None
        sampling = reply.settings.sampling
        return MessageMeta(
            model_id=model.id,
            model_kind=model.kind,
            model_repo=model.repo_id or "",
            model_file=model.file,
            model_sha256=model.sha256 or "",
            mode="chat",
            template=prompt.template_name or "",
            prompt=prompt.text,
            sampling=sampling.to_dict(),
            seed=stats.seed if stats else sampling.seed,
            stop_reason=done.reason.value if done else failure,
            stats=asdict(stats) if stats else {},
            dropped_turns=self.conversation.dropped,
        )

    # The chat ------------------------------------------------------------------------------------

    def add_user(self, text: str) -> None:
        """Save a user message (creating the chat on its first message). After `edit` it is
        the edited message: a new branch beside the original, which the history keeps."""
        self._end_edit()
        self.history.add_user(self.conversation, text)
        self.events.message_added.emit("user", text)

    def set_system(self, text: str) -> None:
        self.conversation.system = text
        self.history.set_system(self.conversation)

    def new(self, system: str) -> None:
        self._show(Conversation(system=system))

    def open(self, chat_id: int) -> None:
        """Show a saved chat (raises DuetError when it cannot be read)."""
        self._show(self._with_infos(self.history.load(chat_id)))

    def forget(self, chat_id: int) -> None:
        """The chat was deleted: if it is the one shown, show an empty one instead."""
        if self.conversation.chat_id == chat_id:
            self._show(Conversation(system=self.conversation.system))

    def regenerate(self) -> bool:
        """Take the last reply out of the chat (it stays in the history, as an alternative);
        True when the chat then waits for a reply. Not while a message is edited: the reply
        above it is not the last one."""
        if self.editing is not None:
            return False
        if self.conversation.messages and self.conversation.messages[-1].role == "assistant":
            self.conversation.drop_last_reply()
            self.events.changed.emit()
        return self.conversation.awaiting_reply

    def edit(self, index: int) -> str | None:
        """Message `index` and everything after it leave the chat while it is edited (they
        stay in the history: the edit is sent as an alternative, and `cancel_edit` brings them
        back); its text is returned to be edited."""
        if index >= len(self.conversation.messages):
            return None
        if self._before_edit is None:  # editing an earlier message mid-edit: cancel goes back
            shown = self.conversation
            self._before_edit = replace(
                shown, messages=list(shown.messages), ids=list(shown.ids), infos=list(shown.infos)
            )
        text = self.conversation.messages[index].content
        self.conversation.truncate(index)
        self.editing = index
        self.events.changed.emit()
        return text

    def cancel_edit(self) -> None:
        """Show the chat as it was before `edit` (with the system prompt as it is now)."""
        before = self._before_edit
        if before is not None:
            self._show(replace(before, system=self.conversation.system))

    def _end_edit(self) -> None:
        self.editing, self._before_edit = None, None

    def branches(self) -> list[tuple[int, int]]:
        """For each shown message: its position among its alternatives, and how many there are
        (1 or 0 when it has none)."""
        shown = []
        for message_id in self.conversation.ids:
            position, siblings = self.history.branch_position(message_id)
            shown.append((position, len(siblings)))
        return shown

    def switch_branch(self, index: int, delta: int) -> None:
        """Show the alternative `delta` steps from message `index`'s."""
        if index >= len(self.conversation.ids):
            return
        position, siblings = self.history.branch_position(self.conversation.ids[index])
        target = position + delta
        if 0 <= target < len(siblings):
            self._show(self._with_infos(self.history.switch(self.conversation, siblings[target])))

    def _with_infos(self, conversation: Conversation) -> Conversation:
        """A loaded chat with each message's info read from the store: when it was written,
        its model, whether its token records are kept."""
        if conversation.chat_id is None:
            return conversation
        ids = [i for i in conversation.ids if i is not None]
        infos = self.history.store.infos(conversation.chat_id, ids)
        conversation.infos = [
            infos.get(i, MessageInfo()) if i is not None else MessageInfo()
            for i in conversation.ids
        ]
        return conversation

    def _show(self, conversation: Conversation) -> None:
        self._end_edit()  # another chat, branch or the chat restored: the edit is over
        self.conversation = conversation
        self.events.changed.emit()


def _count(value: object) -> int:
    """A token count from saved stats: a whole number, else 0 (not counted)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
