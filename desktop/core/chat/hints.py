"""What the window says about the model and mode in use: the one-line hint above the views, the
status bar's mode label and its context figure. Plain functions of core state, so they are tested alone."""

from __future__ import annotations

from desktop.core.chat.prompts import FALLBACK_NOTE, Mode
from desktop.core.engine.factory import Runnable, capabilities_of, file_info, location

INSTRUCT_RAW_HINT = (
    "This is an instruct model in raw mode. It was trained on its chat template, so expect early "
    "stops or template tokens in the continuation."
)


def mode_hint(model: Runnable | None, mode: Mode) -> str:
    """The hint for this model in this mode, or "" when there is nothing to say."""
    if model is None:
        return ""
    if capabilities_of(model).renders_template:
        how = (
            "Chat mode: the server applies its own chat template; the inspector shows the "
            "messages sent."
            if mode == "chat"
            else "Raw mode: your text goes to /v1/completions exactly as written."
        )
        return f"{model.id} runs on {location(model)}. {how}"
    if mode == "chat" and not file_info(model).has_chat_template:
        return FALLBACK_NOTE
    if mode == "raw" and model.kind == "instruct":
        return INSTRUCT_RAW_HINT
    return ""


def explains_difference(model: Runnable | None, mode: Mode) -> bool:
    """Whether this model and mode's hint is about what base and instruct models are for, so
    the window links it to the "What is the difference?" page."""
    return mode_hint(model, mode) in (FALLBACK_NOTE, INSTRUCT_RAW_HINT)


def mode_label(model: Runnable | None, mode: Mode) -> str:
    """The status bar's word for how the prompt is made, true to the model in use: a base
    model without a template chats through the labelled fallback, not a chat template."""
    if mode == "raw":
        return "raw continuation"
    if model is None:
        return "chat"
    if capabilities_of(model).renders_template:
        return "chat: the server's template"
    return "chat template" if file_info(model).has_chat_template else "chat: fallback transcript"


def context_text(used: int, size: int) -> str:
    # A remote server does not say how large its context is: 0 means unknown, not empty.
    return f"context {used} / {size}" if size else "context: on the server"
