from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.chat.prompts import (
    FALLBACK_NOTE,
    FALLBACK_STOP,
    SYSTEM_DROPPED_NOTE,
    SYSTEM_FOLDED_NOTE,
    ChatTemplate,
    Message,
    TokenizerSpec,
    messages_from_json,
    render_chat,
    render_raw,
    template_of,
)
from desktop.core.errors import DuetError, TemplateError
from desktop.core.models.gguf_info import read_model_info

NO_BOS = TokenizerSpec(bos_token="<s>", eos_token="</s>", add_bos=False)
HI = [Message("user", "Hi there")]


def test_raw_mode_adds_nothing_but_the_bos_the_model_asks_for(
    base_path: Path, instruct_path: Path
) -> None:
    gemma = TokenizerSpec.from_info(read_model_info(base_path))
    smol = TokenizerSpec.from_info(read_model_info(instruct_path))
    assert render_raw("Once upon", gemma).text == "<bos>Once upon"
    assert render_raw("<bos>Once upon", gemma).text == "<bos>Once upon"  # never twice
    assert render_raw("Once upon", smol).text == "Once upon"
    assert render_raw("  spaces\n", smol).text == "  spaces\n"


def test_smollm2_template_renders_chatml_with_generation_prompt(instruct_path: Path) -> None:
    info = read_model_info(instruct_path)
    rendered = render_chat(HI, TokenizerSpec.from_info(info), template_of(info))
    assert rendered.text.startswith("<|im_start|>system\n")  # the template's default system
    assert "<|im_start|>user\nHi there<|im_end|>\n" in rendered.text
    assert rendered.text.endswith("<|im_start|>assistant\n")
    assert rendered.template_name == f"chat template of {instruct_path.name}"
    assert not rendered.uses_fallback and rendered.notes == ()


def test_system_prompt_replaces_the_templates_default(instruct_path: Path) -> None:
    info = read_model_info(instruct_path)
    rendered = render_chat(HI, TokenizerSpec.from_info(info), template_of(info), "Be brief.")
    assert rendered.text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    assert "SmolLM" not in rendered.text


def test_base_model_without_template_gets_the_labelled_transcript(base_path: Path) -> None:
    info = read_model_info(base_path)
    assert template_of(info) is None
    messages = [Message("user", "Hi"), Message("assistant", "Hello!"), Message("user", "Bye")]
    rendered = render_chat(messages, TokenizerSpec.from_info(info), None, "A friendly chat.")
    assert (
        rendered.text
        == "<bos>A friendly chat.\n\nUser: Hi\nAssistant: Hello!\nUser: Bye\nAssistant:"
    )
    assert rendered.uses_fallback and rendered.stop == FALLBACK_STOP
    assert rendered.notes == (FALLBACK_NOTE,)


REJECTS_SYSTEM = ChatTemplate(
    "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}<t>{{ m.role }}:{{ m.content }}</t>{% endfor %}{% if add_generation_prompt %}<t>assistant:{% endif %}",
    "rejecting template",
)
IGNORES_SYSTEM = ChatTemplate(
    "{% for m in messages if m.role != 'system' %}[{{ m.role }}] {{ m.content }}\n{% endfor %}[assistant]",
    "ignoring template",
)


@pytest.mark.parametrize("template", [REJECTS_SYSTEM, IGNORES_SYSTEM])
def test_system_prompt_is_folded_into_first_user_turn_when_unsupported(
    template: ChatTemplate,
) -> None:
    rendered = render_chat(HI, NO_BOS, template, "Be brief.")
    # One newline between them, as llama.cpp joins them (see LLAMA_CPP_GEMMA below).
    assert "Be brief.\nHi there" in rendered.text
    assert "Be brief.\n\n" not in rendered.text
    assert rendered.notes == (SYSTEM_FOLDED_NOTE,)


# llama.cpp's own expectation for a template without a system role: the "google/gemma-7b-it"
# case of its tests/test-chat-template.cpp, template_str and expected_output_jinja verbatim
# (ggml-org/llama.cpp; the Jinja path merges the system prompt in system_message_not_supported()).
LLAMA_CPP_CONVERSATION = [
    Message("system", "You are a helpful assistant"),
    Message("user", "Hello"),
    Message("assistant", "Hi there"),
    Message("user", "Who are you"),
    Message("assistant", "   I am an assistant   "),
    Message("user", "Another question"),
]
LLAMA_CPP_GEMMA = ChatTemplate(
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}"
    "{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
    "llama.cpp's gemma-7b-it test template",
)
LLAMA_CPP_GEMMA_EXPECTED = (
    "<start_of_turn>user\nYou are a helpful assistant\nHello<end_of_turn>\n"
    "<start_of_turn>model\nHi there<end_of_turn>\n"
    "<start_of_turn>user\nWho are you<end_of_turn>\n"
    "<start_of_turn>model\nI am an assistant<end_of_turn>\n"
    "<start_of_turn>user\nAnother question<end_of_turn>\n"
    "<start_of_turn>model\n"
)


def test_a_template_without_system_role_renders_as_llama_cpp_expects() -> None:
    spec = TokenizerSpec(bos_token="", eos_token="", add_bos=False)
    rendered = render_chat(LLAMA_CPP_CONVERSATION, spec, LLAMA_CPP_GEMMA)
    assert rendered.text == LLAMA_CPP_GEMMA_EXPECTED
    assert rendered.notes == (SYSTEM_FOLDED_NOTE,)
    # The same through the `system` argument, as the window and `duet render -s` pass it.
    system, *rest = LLAMA_CPP_CONVERSATION
    assert render_chat(rest, spec, LLAMA_CPP_GEMMA, system.content).text == rendered.text


def test_an_unsupported_system_prompt_goes_into_the_next_message_whatever_its_role() -> None:
    # llama.cpp merges it into messages[1], not into the first user message further on.
    turns = [Message("assistant", "Hello!"), Message("user", "Hi")]
    rendered = render_chat(turns, NO_BOS, IGNORES_SYSTEM, "Be brief.")
    assert rendered.text == "[assistant] Be brief.\nHello!\n[user] Hi\n[assistant]"
    assert rendered.notes == (SYSTEM_FOLDED_NOTE,)


def test_an_unsupported_system_prompt_with_nothing_after_it_is_left_out_and_said() -> None:
    # llama.cpp drops it ("Removing system prompt due to template not supporting system role").
    rendered = render_chat([], NO_BOS, IGNORES_SYSTEM, "Be brief.")
    assert rendered.text == "[assistant]"
    assert rendered.notes == (SYSTEM_DROPPED_NOTE,)


def test_template_errors_name_the_template() -> None:
    with pytest.raises(TemplateError, match="broken template does not parse"):
        render_chat(HI, NO_BOS, ChatTemplate("{% for m in messages %}", "broken template"))
    strict = ChatTemplate(
        "{{ raise_exception('Conversation roles must alternate') }}", "strict template"
    )
    with pytest.raises(
        TemplateError, match="strict template refused this conversation: Conversation roles"
    ):
        render_chat(HI, NO_BOS, strict)
    crashing = ChatTemplate("{{ messages[5].content }}", "crashing template")
    with pytest.raises(TemplateError, match="crashing template"):
        render_chat(HI, NO_BOS, crashing)


def test_template_sandbox_blocks_python_internals() -> None:
    evil = ChatTemplate("{{ ''.__class__.__mro__[1].__subclasses__() }}", "evil template")
    with pytest.raises(TemplateError, match="evil template"):
        render_chat(HI, NO_BOS, evil)


def test_openai_style_messages() -> None:
    data = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    ]
    assert messages_from_json(data, "m.json") == [Message("system", "S"), Message("user", "ab")]
    with pytest.raises(DuetError, match=r"m\.json: message 1 needs a 'role'"):
        messages_from_json([{"content": "x"}], "m.json")
    # Any role a template may know passes through; only what cannot be a role is refused.
    assert messages_from_json([{"role": "tool_response", "content": "x"}], "m.json") == [
        Message("tool_response", "x")
    ]
    with pytest.raises(DuetError, match=r"message 1 has role 'a\\nb': a role is 1 to 64"):
        messages_from_json([{"role": "a\nb", "content": "x"}], "m.json")
    with pytest.raises(DuetError, match="expected a JSON list"):
        messages_from_json({"role": "user"}, "m.json")


def test_any_role_reaches_the_template_and_an_impossible_one_is_refused() -> None:
    echo = ChatTemplate("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}", "echo")
    turns = [Message("user", "Hi"), Message("document", "D"), Message("ipython", "42")]
    assert render_chat(turns, NO_BOS, echo).text == "<user>Hi<document>D<ipython>42"
    for role in ("", " ", "x" * 65, "user\r"):
        with pytest.raises(DuetError, match=r"Message 1 has role .*1 to 64 printable"):
            render_chat([Message(role, "x")], NO_BOS, echo)


def test_generation_blocks_render_their_text_as_llama_cpp_does() -> None:
    # transformers' {% generation %} marks an assistant turn for training masks (SmolLM3's
    # template uses it); llama.cpp ignores the tags and renders what is inside.
    marked = ChatTemplate(
        "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}"
        "[{{ m.content }}]{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}",
        "marking template",
    )
    turns = [Message("user", "Hi"), Message("assistant", "Hello")]
    assert render_chat(turns, NO_BOS, marked).text == "Hi[Hello]"
