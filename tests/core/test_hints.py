"""The window's hint for a model and mode, and its context figure, on the starter pair and a
server's model."""

from __future__ import annotations

from pathlib import Path

from desktop.core.chat.hints import INSTRUCT_RAW_HINT, context_text, mode_hint, mode_label
from desktop.core.chat.prompts import FALLBACK_NOTE
from desktop.core.models.library import Library
from desktop.core.models.served import ServerModel


def test_each_model_and_mode_gets_its_hint(starter_paths: tuple[Path, Path]) -> None:
    library = Library()
    base = library.describe(starter_paths[0], "starter")
    instruct = library.describe(starter_paths[1], "starter")
    assert mode_hint(base, "chat") == FALLBACK_NOTE  # no template: the labelled fallback
    assert mode_hint(base, "raw") == ""
    assert mode_hint(instruct, "raw") == INSTRUCT_RAW_HINT
    assert mode_hint(instruct, "chat") == ""
    assert mode_hint(None, "chat") == ""
    served = ServerModel("remote:lab/tiny", "tiny", "lab", "instruct", "name")
    assert mode_hint(served, "chat").startswith("remote:lab/tiny runs on the server lab.")
    assert "/v1/completions" in mode_hint(served, "raw")


def test_an_unknown_context_size_is_not_shown_as_zero() -> None:
    assert context_text(12, 2048) == "context 12 / 2048"
    assert context_text(0, 0) == "context: on the server"


def test_the_mode_label_says_how_the_prompt_is_made(starter_paths: tuple[Path, Path]) -> None:
    library = Library()
    base = library.describe(starter_paths[0], "starter")
    instruct = library.describe(starter_paths[1], "starter")
    assert mode_label(base, "chat") == "chat: fallback transcript"  # as the inspector says
    assert mode_label(instruct, "chat") == "chat template"
    assert mode_label(base, "raw") == mode_label(instruct, "raw") == "raw continuation"
    served = ServerModel("remote:lab/tiny", "tiny", "lab", "instruct", "name")
    assert mode_label(served, "chat") == "chat: the server's template"
