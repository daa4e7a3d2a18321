"""Fork at a token: the text cut before it, the choice in its place, the prompt continued."""

from __future__ import annotations

import pytest

from desktop.core.chat.fork import MAX_CHOICE_CHARS, fork_at, forked_prompt
from desktop.core.chat.prompts import Message, RenderedPrompt, exact
from desktop.core.engine.base import LOCAL, SERVER
from desktop.core.errors import InvalidPrompt, Unsupported


def test_the_prompt_goes_on_from_the_text_before_the_token_and_the_choice() -> None:
    fork = fork_at([" The", " sky", " is", " blue"], 2, " was")
    assert (fork.prefix, fork.choice, fork.text) == (" The sky", " was", " The sky was")
    prompt = RenderedPrompt("<|user|>Hi<|assistant|>", "chat", "t", stop=("<|end|>",))
    forked = forked_prompt(prompt, fork, LOCAL)
    assert forked.text == "<|user|>Hi<|assistant|> The sky was"
    assert forked.stop == ("<|end|>",) and "forked at token 2 with ' was'" in forked.notes[-1]


@pytest.mark.parametrize(
    ("index", "choice", "message"),
    [
        (4, "x", "no token 4"),
        (-1, "x", "no token -1"),
        (0, "", "Pick an alternative"),
        (0, "x" * (MAX_CHOICE_CHARS + 1), "at most"),
    ],
)
def test_a_fork_that_cannot_be_is_refused_with_a_reason(
    index: int, choice: str, message: str
) -> None:
    with pytest.raises(InvalidPrompt, match=message):
        fork_at(["a", "b", "c", "d"], index, choice)


def test_a_server_sent_chat_messages_cannot_fork() -> None:
    fork = fork_at(["a"], 0, "b")
    sent = RenderedPrompt("user: Hi", "chat", None, messages=(Message("user", "Hi"),))
    with pytest.raises(Unsupported):
        forked_prompt(sent, fork, SERVER)
    assert forked_prompt(exact("x"), fork, SERVER).text == "xb"  # raw text it can continue


def test_a_columns_fork_prefix_is_the_text_as_written_not_the_token_pieces() -> None:
    """'é' split across two tokens: each piece alone is U+FFFD, the text comes whole with the
    token that completes it; held-back text released by an id-less token joins the last one."""
    from desktop.core.chat.prompts import exact
    from desktop.core.compare.run import Column
    from desktop.core.engine import events as p

    column = Column(None, "raw", exact("Caf"))  # type: ignore[arg-type]
    for token in (
        p.Token("", 101, "\ufffd"),
        p.Token("é", 102, "\ufffd"),
        p.Token("", 103, " au"),  # held: it might begin the stop string " au lait"
        p.Token(" au", -1, ""),  # released
        p.Token(" lit", 104, " lit"),
    ):
        column.add_token(token)
    assert column.pieces == ["\ufffd", "\ufffd", " au", " lit"]
    assert column.texts == ["", "é", " au", " lit"]
    assert "".join(column.texts) == column.text == "é au lit"
    fork = fork_at(column.texts, 3, " bar")
    assert fork.text == "é au bar"


def test_text_held_over_several_tokens_goes_back_to_the_tokens_that_wrote_it() -> None:
    """' au' and ' l' held (they might begin the stop string ' au lait'), then released with
    'ove': a fork at 'ove' keeps ' au l' before it."""
    from desktop.core.chat.prompts import exact
    from desktop.core.compare.run import Column
    from desktop.core.engine import events as p

    column = Column(None, "raw", exact("Je"))  # type: ignore[arg-type]
    for token in (
        p.Token(" t'aime", 1, " t'aime"),
        p.Token("", 2, " au"),
        p.Token("", 3, " l"),
        p.Token(" au love", 4, "ove"),
    ):
        column.add_token(token)
    assert column.texts == [" t'aime", " au", " l", "ove"]
    assert "".join(column.texts) == column.text
    assert fork_at(column.texts, 3, "ait").text == " t'aime au lait"
