"""Duet renders every real chat template in templates/ exactly as the reference does:
transformers' chat-template renderer (`render_jinja_template`, what `apply_chat_template` runs
without a tokenizer), whose semantics llama.cpp's Jinja path follows.

One difference is Duet's on purpose, and llama.cpp's: a template without a system role gets
the system prompt joined to the next message with one newline (llama.cpp's
system_message_not_supported), where transformers would render the system message as it is (or
raise). For those the expected text is the reference's render of that folded conversation,
written out below. A conversation the reference refuses ("roles must alternate", ...) is
refused by Duet too. See templates/README.md for where each template and its tokens come from.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers.utils.chat_template_utils import render_jinja_template

from desktop.core.chat.prompts import (
    SYSTEM_FOLDED_NOTE,
    ChatTemplate,
    Message,
    TokenizerSpec,
    render_chat,
    supports_system_role,
)
from desktop.core.errors import TemplateError
from desktop.core.models.gguf_info import read_model_info

TEMPLATES = Path(__file__).with_name("templates")

# The BOS and EOS text of each model's tokenizer, where its template uses them (templates/README.md
# says where each is read from); None where the template uses neither, or the tokenizer has none.
GEMMA = ("<bos>", "<eos>")  # read from the starter Gemma 3 270M GGUF
OLMO2 = ("<|endoftext|>", "<|endoftext|>")  # the Dolma 2 tokenizer marks both ends with it
TULU3 = (None, "<|end_of_text|>")  # Llama 3.1's end-of-text token; the template adds no BOS
TOKENS: dict[str, tuple[str | None, str | None]] = {
    "CohereForAI-c4ai-command-r-plus-tool_use": ("<BOS_TOKEN>", None),
    "HuggingFaceTB-SmolLM2-135M-Instruct": ("<|im_start|>", "<|im_end|>"),  # its GGUF's
    "HuggingFaceTB-SmolLM2-1.7B-Instruct": (None, None),
    "HuggingFaceTB-SmolLM2-360M-Instruct": (None, None),
    "HuggingFaceTB-SmolLM3-3B": (None, None),
    "Qwen-Qwen2.5-0.5B-Instruct": (None, None),
    "Qwen-Qwen2.5-7B-Instruct": (None, None),
    "Qwen-Qwen3-0.6B": (None, None),
    "Qwen-Qwen3-1.7B": (None, None),
    "Qwen-Qwen3-4B": (None, None),
    "allenai-Llama-3.1-Tulu-3-8B": TULU3,
    "allenai-Llama-3.1-Tulu-3-8B-DPO": TULU3,
    "allenai-Llama-3.1-Tulu-3-8B-SFT": TULU3,
    "allenai-OLMo-2-0425-1B-Instruct": OLMO2,
    "allenai-OLMo-2-1124-7B-Instruct": OLMO2,
    "allenai-OLMo-2-1124-7B-SFT": OLMO2,
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B": ("<｜begin▁of▁sentence｜>", None),
    "google-gemma-2-2b-it": GEMMA,
    "google-gemma-2b-it": GEMMA,
    "google-gemma-3-1b-it": GEMMA,
    "google-gemma-3-270m-it": GEMMA,
    "google-gemma-4-31B-it": GEMMA,
    "ibm-granite-granite-3.0-1b-a400m-instruct": (None, None),
    "ibm-granite-granite-3.3-2B-Instruct": (None, None),
    "ibm-granite-granite-4.0": (None, None),
    "meta-llama-Llama-3.1-8B-Instruct": ("<|begin_of_text|>", None),
    "meta-llama-Llama-3.2-1B-Instruct": ("<|begin_of_text|>", None),
    "meta-llama-Llama-3.2-3B-Instruct": ("<|begin_of_text|>", None),
    "microsoft-Phi-3.5-mini-instruct": (None, "<|endoftext|>"),
    "microsoft-Phi-4-mini-instruct": (None, "<|endoftext|>"),
    "mistralai-Mistral-7B-Instruct-v0.3": ("<s>", "</s>"),
    "mistralai-Mistral-Nemo-Instruct-2407": ("<s>", "</s>"),
    "openai-gpt-oss-120b": (None, None),
}

# llama.cpp leaves `tools` undefined when there are none, as Duet does; transformers passes None.
# A template made for tool use may iterate it unguarded: Command R+'s tool_use template does, and
# raises on None. Its reference is given no tools as an empty list, which renders as undefined
# does there, since that template never asks whether `tools` is defined.
NO_TOOLS_AS_EMPTY_LIST = {"CohereForAI-c4ai-command-r-plus-tool_use"}

SYSTEM = Message("system", "You are terse.")
HI = Message("user", "Hi there! <b>Bold</b> {{ not a tag }} 50% off")
HELLO = Message("assistant", "Hello. What do you need?")
HAIKU = Message("user", "A haiku about\nnew lines\tand tabs, please.")
CONVERSATIONS = {
    "system+user": [SYSTEM, HI],
    "user": [HI],
    "user/assistant/user": [HI, HELLO, HAIKU],
    "system+user/assistant/user": [SYSTEM, HI, HELLO, HAIKU],
    # Two user turns in a row: templates that insist on alternating roles refuse it.
    "user/user": [HI, HAIKU],
}
FIXTURES = sorted(TEMPLATES.glob("*.jinja"))


def test_every_fixture_has_its_tokens_and_a_source() -> None:
    names = {path.stem for path in FIXTURES}
    assert names == set(TOKENS)
    readme = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    assert all(f"`{path.name}`" in readme for path in FIXTURES)


def reference(path: Path, turns: list[Message], add: bool) -> str:
    """transformers' render, given the tokens as the model's tokenizer would give them."""
    tokens = TOKENS[path.stem]
    rendered, _ = render_jinja_template(
        conversations=[[{"role": m.role, "content": m.content} for m in turns]],
        tools=[] if path.stem in NO_TOOLS_AS_EMPTY_LIST else None,
        chat_template=path.read_text(encoding="utf-8"),
        add_generation_prompt=add,
        bos_token=tokens[0],
        eos_token=tokens[1],
    )
    return str(rendered[0])


def llama_cpp_fold(turns: list[Message]) -> list[Message]:
    """What llama.cpp sends a template without a system role: the system prompt, a newline and
    the next message, in that message's role (common/chat.cpp, system_message_not_supported)."""
    system, following, *rest = turns
    return [Message(following.role, system.content + "\n" + following.content), *rest]


@pytest.mark.parametrize("add", [True, False], ids=["generation prompt", "no generation prompt"])
@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_duet_renders_real_templates_as_the_reference_does(
    path: Path, conversation: str, add: bool
) -> None:
    source = path.read_text(encoding="utf-8")
    tokens = TOKENS[path.stem]
    spec = TokenizerSpec(bos_token=tokens[0], eos_token=tokens[1], add_bos=False)
    template = ChatTemplate(source, path.name)
    turns = CONVERSATIONS[conversation]
    folded = turns[0].role == "system" and not supports_system_role(template, spec)
    sent = llama_cpp_fold(turns) if folded else turns
    try:
        expected = reference(path, sent, add)
    except Exception as refused:  # the template refuses this conversation: so must Duet
        with pytest.raises(TemplateError) as caught:
            render_chat(turns, spec, template, add_generation_prompt=add)
        assert str(refused) in str(caught.value)  # with the template's own words
        return
    rendered = render_chat(turns, spec, template, add_generation_prompt=add)
    assert rendered.text == expected
    assert rendered.notes == ((SYSTEM_FOLDED_NOTE,) if folded else ())


def test_the_system_fold_is_llama_cpps_on_a_real_template() -> None:
    """The expected render written out, for Gemma 2 (no system role): the system prompt, ONE
    newline, then the user's message, in the first user turn."""
    path = TEMPLATES / "google-gemma-2-2b-it.jinja"
    spec = TokenizerSpec(bos_token="<bos>", eos_token="<eos>", add_bos=False)
    template = ChatTemplate(path.read_text(encoding="utf-8"), path.name)
    rendered = render_chat([SYSTEM, HI, HELLO, HAIKU], spec, template)
    assert rendered.text == (
        "<bos><start_of_turn>user\nYou are terse.\nHi there! <b>Bold</b> {{ not a tag }} 50% off"
        "<end_of_turn>\n<start_of_turn>model\nHello. What do you need?<end_of_turn>\n"
        "<start_of_turn>user\nA haiku about\nnew lines\tand tabs, please.<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_the_starter_fixture_and_tokens_are_read_from_the_starter_gguf_files(
    base_path: Path, instruct_path: Path
) -> None:
    instruct = read_model_info(instruct_path)
    fixture = TEMPLATES / "HuggingFaceTB-SmolLM2-135M-Instruct.jinja"
    assert instruct.chat_template == fixture.read_text(encoding="utf-8")
    assert (instruct.bos_token, instruct.eos_token) == TOKENS[fixture.stem]
    base = read_model_info(base_path)  # Gemma 3's tokenizer, the same in its instruct models
    assert (base.bos_token, base.eos_token) == GEMMA
