"""Aligned by examples: the exact render after the preamble, its stop strings, the user's
examples file (created from the shipped default, edited, broken) and the model factory's side."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.chat.aligned import (
    ALIGNED_STOP,
    ALIGNED_TEMPLATE_NAME,
    ANSWER,
    DEFAULT_SOURCE,
    MAX_PREAMBLE_BYTES,
    QUERY,
    Preamble,
    default_preamble,
    default_preamble_path,
    load_preamble,
    preamble_path,
    render_aligned_chat,
)
from desktop.core.chat.prompts import Message, TokenizerSpec

GEMMA = TokenizerSpec(bos_token="<bos>", eos_token="<eos>", add_bos=True)
NO_BOS = TokenizerSpec(bos_token=None, eos_token=None, add_bos=False)
SMALL = Preamble(
    "Be helpful.\n\n# Query:\nHi?\n\n# Answer:\nHello!\n", "test examples"
)  # one exchange


def test_a_two_turn_chat_renders_exactly_after_the_preamble_ending_with_the_answer_marker() -> None:
    chat = [
        Message("user", "What is 2+2?"),
        Message("assistant", "4."),
        Message("user", " And 3+3? "),
    ]
    prompt = render_aligned_chat(chat, GEMMA, SMALL, system="Answer briefly.")
    assert prompt.text == (
        "<bos>Be helpful.\n\n# Query:\nHi?\n\n# Answer:\nHello!\n\n"
        "Answer briefly.\n\n"
        "# Query:\nWhat is 2+2?\n\n# Answer:\n4.\n\n# Query:\nAnd 3+3?\n\n# Answer:\n"
    )
    assert prompt.mode == "chat"
    assert (
        prompt.template_name
        == ALIGNED_TEMPLATE_NAME
        == ("aligned by examples (URIAL-style preamble)")
    )
    assert prompt.stop == ALIGNED_STOP == ("\n# Query:", "\n# Answer:")
    assert "1 example exchanges (test examples)" in prompt.notes[0]
    assert not prompt.uses_fallback


def test_without_the_generation_prompt_the_chat_ends_after_the_last_reply() -> None:
    chat = [Message("user", "Hi"), Message("assistant", "Hello.")]
    prompt = render_aligned_chat(chat, NO_BOS, SMALL, add_generation_prompt=False)
    assert prompt.text.endswith("# Query:\nHi\n\n# Answer:\nHello.\n\n")
    assert not prompt.text.startswith("<bos>")


def test_a_system_message_in_the_chat_becomes_the_paragraph_before_it() -> None:
    chat = [Message("system", "Be terse."), Message("user", "Hi")]
    text = render_aligned_chat(chat, NO_BOS, SMALL).text
    assert text.endswith("Hello!\n\nBe terse.\n\n# Query:\nHi\n\n# Answer:\n")


def test_the_shipped_default_has_three_examples_and_is_valid() -> None:
    default = default_preamble()
    assert default_preamble_path().is_file()
    assert default.examples == 3
    assert default.text.count(QUERY) == default.text.count(ANSWER) == 3
    assert len(default.text.encode()) < MAX_PREAMBLE_BYTES


@pytest.fixture
def user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))
    return preamble_path()


def test_first_use_creates_the_users_file_from_the_default(user_file: Path) -> None:
    assert str(user_file).startswith(str(user_file.parents[3]))  # under DUET_HOME
    assert not user_file.exists()
    preamble = load_preamble()
    assert user_file.read_text(encoding="utf-8") == default_preamble().text
    assert preamble.source == str(user_file) and not preamble.problem


def test_an_edited_file_is_the_one_used(user_file: Path) -> None:
    load_preamble()
    edited = user_file.read_text(encoding="utf-8") + (
        "# Query:\nWhat colour is the sky?\n\n# Answer:\nBlue, on a clear day.\n"
    )
    user_file.write_text(edited, encoding="utf-8")
    preamble = load_preamble()
    assert preamble.examples == 4 and not preamble.problem
    prompt = render_aligned_chat([Message("user", "Hi")], NO_BOS, preamble)
    assert prompt.text.startswith(edited.strip() + "\n\n# Query:\nHi\n")
    assert "4 example exchanges" in prompt.notes[0]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"Just a paragraph, no examples.\n", "needs example exchanges"),
        (b"# Query:\nA question with no answer.\n", "needs example exchanges"),
        (b"# Answer:\nOut of turn.\n\n# Query:\nHi\n", "needs example exchanges"),
        (b"# Query:\n\xff\xfe\n# Answer:\nx\n", "is not UTF-8 text"),
        (b"# Query:\nq\n# Answer:\n" + b"a" * MAX_PREAMBLE_BYTES, "is over 64 KB"),
    ],
)
def test_a_broken_file_says_why_and_the_default_is_used(
    user_file: Path, content: bytes, said: str
) -> None:
    user_file.parent.mkdir(parents=True)
    user_file.write_bytes(content)
    preamble = load_preamble()
    assert preamble.text == default_preamble().text
    assert preamble.source == DEFAULT_SOURCE
    assert said in preamble.problem and str(user_file) in preamble.problem
    assert user_file.read_bytes() == content  # the user's file is never overwritten
    prompt = render_aligned_chat([Message("user", "Hi")], NO_BOS, preamble)
    assert preamble.problem in prompt.notes


def test_an_unreadable_file_says_so(user_file: Path) -> None:
    user_file.mkdir(parents=True)  # a directory where the file should be
    preamble = load_preamble()
    assert "could not be read" in preamble.problem
    assert preamble.text == default_preamble().text


def test_a_role_that_cannot_be_one_is_refused() -> None:
    from desktop.core.errors import DuetError

    with pytest.raises(DuetError, match="role"):
        render_aligned_chat([Message("us\ner", "Hi")], NO_BOS, SMALL)


def test_the_setting_is_saved_and_a_bad_saved_value_falls_back(tmp_path: Path) -> None:
    import json

    from desktop.core.settings import AppSettings, load_settings, save_settings

    path = tmp_path / "settings.json"
    assert AppSettings().aligned is False
    save_settings(AppSettings(aligned=True), path)
    assert load_settings(path) == (AppSettings(aligned=True), [])
    path.write_text(json.dumps({"aligned": "yes"}), encoding="utf-8")
    settings, notes = load_settings(path)
    assert settings.aligned is False
    assert notes and "aligned" in notes[0]


def test_render_input_aligns_a_base_model_and_leaves_an_instruct_one_alone(
    starter_paths: tuple[Path, Path], user_file: Path
) -> None:
    """The call a compare column makes: `render_input(model, "chat", text, system, aligned=True)`."""
    from desktop.core.engine.factory import aligns_by_examples, render_aligned, render_input
    from desktop.core.models.library import Library

    base = Library().describe(starter_paths[0], "starter")
    instruct = Library().describe(starter_paths[1], "starter")
    assert aligns_by_examples(base) and not aligns_by_examples(instruct)
    prompt = render_input(base, "chat", "Name a colour.", "Be brief.", aligned=True)
    assert prompt == render_aligned(base, "Name a colour.", "Be brief.")
    assert prompt.template_name == ALIGNED_TEMPLATE_NAME and prompt.stop == ALIGNED_STOP
    assert prompt.text.startswith("<bos># Instructions")
    assert prompt.text.endswith("Be brief.\n\n# Query:\nName a colour.\n\n# Answer:\n")
    # Off, or in raw mode, or for an instruct model: as before.
    assert render_input(base, "chat", "Hi").template_name != ALIGNED_TEMPLATE_NAME
    assert render_input(base, "raw", "Hi", aligned=True).template_name is None
    assert render_input(instruct, "chat", "Hi", aligned=True) == render_input(
        instruct, "chat", "Hi"
    )


def test_a_chat_reply_with_the_option_is_rendered_aligned(
    starter_paths: tuple[Path, Path], user_file: Path
) -> None:
    from desktop.core.chat.history import History
    from desktop.core.chat.sampling import SamplingParams
    from desktop.core.chat.session import ChatSession, ReplySettings
    from desktop.core.chat.store import Store
    from desktop.core.models.library import Library
    from tests.fakes.engine import FakeEngine

    base = Library().describe(starter_paths[0], "starter")
    store = Store()
    try:
        session = ChatSession(History(store), system="")
        session.add_user("Name a colour.")
        settings = ReplySettings(SamplingParams(max_tokens=20, seed=1), "stop", aligned=True)
        job = session.start_reply(base, FakeEngine(["Blue."]), settings)
        assert job.prompt.template_name == ALIGNED_TEMPLATE_NAME  # named before it is fitted
        assert job.prepare is not None
        prompt = job.prepare().prompt
        assert prompt.template_name == ALIGNED_TEMPLATE_NAME
        assert prompt.text.endswith("# Query:\nName a colour.\n\n# Answer:\n")
        assert prompt.stop == ALIGNED_STOP
    finally:
        store.close()
