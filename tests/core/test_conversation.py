"""Conversation and Document on the starter models' real metadata: editing the shown branch,
rendering it, and fitting it to the context under each overflow policy.

Tokens are counted as characters here (a deterministic stand-in for a tokenizer), so no engine
runs: `fit` only needs a count that grows with the text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from desktop.core.chat.conversation import Conversation, Document
from desktop.core.chat.prompts import FALLBACK_TEMPLATE_NAME, Message
from desktop.core.errors import ContextOverflow, InvalidPrompt
from desktop.core.models.gguf_info import ModelInfo, read_model_info

SYSTEM = "Be brief."
RESERVE = 10
# Three whole turns, then the message waiting for its reply. Every text is unique, so a test
# can tell exactly which messages a rendered prompt holds.
TURNS = [
    ("user", "first question about owls"),
    ("assistant", "first answer about owls"),
    ("user", "second question about bats"),
    ("assistant", "second answer about bats"),
    ("user", "third question about moths"),
    ("assistant", "third answer about moths"),
    ("user", "last question about larks"),
]
TURN_STARTS = (0, 2, 4, 6)  # the index of each turn's user message


def count_chars(text: str) -> int:
    return len(text)


@pytest.fixture(scope="module", params=["base", "instruct"])
def info(request: pytest.FixtureRequest, starter_paths: tuple[Path, Path]) -> ModelInfo:
    """Gemma 3 base (no template: the labelled transcript) and SmolLM2 Instruct (ChatML)."""
    base, instruct = starter_paths
    return read_model_info(base if request.param == "base" else instruct)


def chat(turns: list[tuple[str, str]] = TURNS) -> Conversation:
    conversation = Conversation(system=SYSTEM, chat_id=1)
    for number, (role, content) in enumerate(turns, start=1):
        conversation.add(role, content, number * 10)
    return conversation


def seen(text: str) -> list[str]:
    """The turns' texts that a rendered prompt holds, in order."""
    return [content for _, content in TURNS if content in text]


# Editing ----------------------------------------------------------------------------------------


def test_add_keeps_messages_and_ids_in_step() -> None:
    conversation = Conversation()
    assert conversation.last_id is None and not conversation.awaiting_reply
    conversation.add("user", "hi")  # not saved yet: no id
    assert conversation.messages == [Message("user", "hi")]
    assert conversation.ids == [None] and conversation.last_id is None
    assert conversation.awaiting_reply
    conversation.add("assistant", "hello", 7)
    assert conversation.ids == [None, 7] and conversation.last_id == 7
    assert not conversation.awaiting_reply


def test_truncate_keeps_the_first_messages_and_clamps_dropped() -> None:
    conversation = chat()
    conversation.dropped = 4
    conversation.truncate(3)
    assert [m.content for m in conversation.messages] == [c for _, c in TURNS[:3]]
    assert conversation.ids == [10, 20, 30]
    assert conversation.dropped == 3  # no more dropped than there are messages
    conversation.truncate(5)  # beyond the end: nothing changes
    assert len(conversation.messages) == 3 and conversation.dropped == 3
    conversation.truncate(0)
    assert conversation.messages == [] and conversation.ids == []
    assert conversation.dropped == 0 and conversation.last_id is None
    assert conversation.system == SYSTEM and conversation.chat_id == 1  # the chat stays


def test_drop_last_reply_removes_only_an_assistant_message() -> None:
    conversation = chat(TURNS[:6])
    conversation.drop_last_reply()
    assert conversation.messages[-1] == Message("user", "third question about moths")
    assert conversation.last_id == 50 and conversation.awaiting_reply
    conversation.drop_last_reply()  # the last message is the user's: kept
    assert len(conversation.messages) == 5 and conversation.last_id == 50
    empty = Conversation()
    empty.drop_last_reply()
    assert empty.messages == []


# Rendering --------------------------------------------------------------------------------------


def test_render_ends_with_the_generation_prompt_only_while_a_reply_is_awaited(
    info: ModelInfo,
) -> None:
    instruct = info.has_chat_template
    generation_prompt = "<|im_start|>assistant\n" if instruct else "Assistant:"
    waiting = chat()
    prompt = waiting.render(info)
    assert prompt.mode == "chat" and prompt.text.endswith(generation_prompt)
    assert seen(prompt.text) == [c for _, c in TURNS]
    assert SYSTEM in prompt.text
    assert prompt.uses_fallback is not instruct
    if not instruct:
        assert prompt.template_name == FALLBACK_TEMPLATE_NAME
        assert prompt.text.startswith("<bos>Be brief.\n\nUser: first question about owls\n")

    answered = chat()
    answered.add("assistant", "last answer about larks", 80)
    whole = answered.render(info)  # what "open as raw" shows: the chat as it stands
    assert not whole.text.endswith(generation_prompt)
    assert whole.text.rstrip().endswith("last answer about larks" + ("<|im_end|>" * instruct))
    forced = answered.render(info, add_generation_prompt=True)
    assert forced.text == whole.text + generation_prompt
    assert not waiting.render(info, add_generation_prompt=False).text.endswith(generation_prompt)


def test_render_from_a_start_leaves_out_the_first_messages_but_keeps_the_system(
    info: ModelInfo,
) -> None:
    prompt = chat().render(info, start=4)
    assert seen(prompt.text) == [c for _, c in TURNS[4:]]
    assert SYSTEM in prompt.text


def test_document_renders_raw_with_only_the_bos_the_model_asks_for(
    starter_paths: tuple[Path, Path],
) -> None:
    base, instruct = (read_model_info(path) for path in starter_paths)
    document = Document("Once upon a time")
    gemma = document.render(base)
    assert gemma.text == "<bos>Once upon a time"
    assert gemma.mode == "raw" and gemma.template_name is None and gemma.stop == ()
    assert document.render(instruct).text == "Once upon a time"
    document.text += ", there was"  # the view appends a continuation; core renders it again
    assert document.render(base).text == "<bos>Once upon a time, there was"
    assert Document().render(instruct).text == ""


# Fitting the context ---------------------------------------------------------------------------


def length(info: ModelInfo, start: int) -> int:
    return count_chars(chat().render(info, start=start).text)


def test_fit_returns_the_whole_chat_when_it_fits_and_clears_dropped(info: ModelInfo) -> None:
    conversation = chat()
    conversation.dropped = 2  # from an earlier, longer render
    for policy in ("stop", "drop_oldest"):
        prompt = conversation.fit(info, count_chars, length(info, 0) + RESERVE, RESERVE, policy)
        assert prompt == conversation.render(info)
        assert conversation.dropped == 0


def test_fit_under_stop_refuses_with_the_counts_and_the_next_steps(info: ModelInfo) -> None:
    conversation = chat()
    full = length(info, 0)
    n_ctx = full + RESERVE - 1  # one token short
    with pytest.raises(ContextOverflow) as raised:
        conversation.fit(info, count_chars, n_ctx, RESERVE, "stop")
    assert isinstance(raised.value, InvalidPrompt)
    assert str(raised.value) == (
        f"This chat no longer fits the model's context: {full} tokens, and {n_ctx} hold "
        f"{n_ctx - RESERVE} plus {RESERVE} for the reply. Start a new chat, raise the context "
        "length, shorten max tokens, or let Duet drop the oldest turns (Sampling panel, "
        '"When the context is full").'
    )
    assert len(conversation.messages) == len(TURNS) and conversation.dropped == 0  # untouched


@pytest.mark.parametrize("turns_dropped", [1, 2, 3])
def test_drop_oldest_drops_exactly_the_oldest_whole_turns(
    info: ModelInfo, turns_dropped: int
) -> None:
    """With room for all but the first N turns, exactly those N are left out: the system prompt
    and every later message, the last one included, are still sent."""
    start = TURN_STARTS[turns_dropped]
    conversation = chat()
    n_ctx = length(info, start) + RESERVE  # fits from `start` exactly, not from a turn earlier
    assert length(info, TURN_STARTS[turns_dropped - 1]) > n_ctx - RESERVE
    prompt = conversation.fit(info, count_chars, n_ctx, RESERVE, "drop_oldest")
    assert conversation.dropped == start == 2 * turns_dropped
    assert prompt.text == conversation.render(info, start=start).text
    assert seen(prompt.text) == [c for _, c in TURNS[start:]]
    assert prompt.text.count(SYSTEM) == 1
    assert "last question about larks" in prompt.text
    assert len(conversation.messages) == len(TURNS)  # nothing is deleted: only not sent


def test_drop_oldest_sends_as_many_recent_turns_as_fit_for_every_budget(info: ModelInfo) -> None:
    """Each budget from "only the last message fits" to "everything fits": the prompt starts at
    a user message (whole turns only) and is the longest one that fits."""
    lengths = {start: length(info, start) for start in TURN_STARTS}
    for budget in range(lengths[6], lengths[0] + 1):
        conversation = chat()
        prompt = conversation.fit(info, count_chars, budget + RESERVE, RESERVE, "drop_oldest")
        expected = min(start for start in TURN_STARTS if lengths[start] <= budget)
        assert conversation.dropped == expected, f"budget {budget}"
        assert conversation.messages[conversation.dropped].role == "user"
        assert count_chars(prompt.text) <= budget


def test_drop_oldest_counts_turns_by_user_messages(info: ModelInfo) -> None:
    """Two user messages in a row (a reply that failed before its first token) are two turns:
    the first can be left out alone."""
    turns = [
        ("user", "first question about owls"),
        ("user", "second question about bats"),
        ("assistant", "second answer about bats"),
        ("user", "last question about larks"),
    ]
    conversation = chat(turns)
    n_ctx = count_chars(conversation.render(info, start=1).text) + RESERVE
    conversation.fit(info, count_chars, n_ctx, RESERVE, "drop_oldest")
    assert conversation.dropped == 1


def test_drop_oldest_says_when_even_the_last_message_alone_is_too_long(info: ModelInfo) -> None:
    conversation = chat()
    alone = length(info, 6)
    n_ctx = alone + RESERVE - 1
    with pytest.raises(ContextOverflow) as raised:
        conversation.fit(info, count_chars, n_ctx, RESERVE, "drop_oldest")
    assert str(raised.value) == (
        f"Even the last message alone is {alone} tokens, more than the context holds "
        f"({n_ctx - RESERVE} with room for the reply). Shorten it or raise the context length."
    )
    assert len(conversation.messages) == len(TURNS)


def test_one_too_long_message_under_drop_oldest_is_not_told_to_choose_drop_oldest(
    info: ModelInfo,
) -> None:
    conversation = chat(TURNS[-1:])
    alone = count_chars(conversation.render(info).text)
    with pytest.raises(ContextOverflow) as raised:
        conversation.fit(info, count_chars, alone + RESERVE - 1, RESERVE, "drop_oldest")
    assert "drop the oldest turns" not in str(raised.value)
    assert str(raised.value).startswith(f"Even the last message alone is {alone} tokens")


@pytest.mark.parametrize("policy", ["stop", "drop_oldest"])
@pytest.mark.parametrize(("n_ctx", "reserve"), [(256, 2000), (256, 256)])
def test_a_reply_reserve_the_context_cannot_hold_is_said_plainly_with_the_fix(
    info: ModelInfo, policy: str, n_ctx: int, reserve: int
) -> None:
    """Max tokens at or above the context leaves no room for any prompt: the message names
    both numbers and the two fixes, never a negative budget (issue 16, bug 6)."""
    conversation = chat()
    with pytest.raises(ContextOverflow) as raised:
        conversation.fit(info, count_chars, n_ctx, reserve, policy)  # type: ignore[arg-type]
    message = str(raised.value)
    assert message.startswith(
        f"Max tokens ({reserve}) is "
        + ("more than" if reserve > n_ctx else "as much as")
        + f" the context holds ({n_ctx}): lower Max tokens or raise the context length"
    ), message
    assert not re.search(r"-\d", message)  # no negative budget
    assert len(conversation.messages) == len(TURNS) and conversation.dropped == 0
