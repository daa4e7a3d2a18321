from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.chat.prompts import (
    FALLBACK_NOTE,
    FALLBACK_STOP,
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
    assert "Be brief.\n\nHi there" in rendered.text
    assert rendered.notes == (SYSTEM_FOLDED_NOTE,)


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
    with pytest.raises(DuetError, match="role 'wizard'"):
        messages_from_json([{"role": "wizard", "content": "x"}], "m.json")
    with pytest.raises(DuetError, match="expected a JSON list"):
        messages_from_json({"role": "user"}, "m.json")
