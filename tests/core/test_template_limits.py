"""Hostile chat templates are stopped with a plain message, within bounded time and memory; real
templates render exactly as an unbounded sandbox renders them, about as fast.

Each hostile template runs in a child process, so a regression fails its test (on a timeout)
instead of freezing or exhausting the test run. The real templates in templates/ are models'
own, byte for byte (templates/README.md says where each was read from)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.parser
import jinja2.sandbox
import pytest

from desktop.core.chat.prompts import (
    ChatTemplate,
    Message,
    TokenizerSpec,
    _fold_system,
    render_chat,
    supports_system_role,
)
from desktop.core.errors import TemplateError
from tests.measure import measured_script

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(__file__).with_name("templates")
SPEC = TokenizerSpec(bos_token="<s>", eos_token="</s>", add_bos=False)

_RENDER = measured_script(
    """
    from desktop.core.errors import TemplateError
    from desktop.core.chat.prompts import ChatTemplate, Message, TokenizerSpec, render_chat

    spec = TokenizerSpec(bos_token="<s>", eos_token="</s>", add_bos=False)
    messages = [Message("system", "Be brief."), Message("user", "Hi")]
    """,
    """
    try:
        text = render_chat(messages, spec, ChatTemplate(sys.argv[1], "hostile template")).text
        outcome = f"rendered {len(text):,} characters"
    except TemplateError as exc:
        outcome = "TemplateError: " + str(exc)
    """,
)

SLOW = "ran longer than 2 s, so it was stopped. Use raw mode, or another chat template."
BIG = "MB of text, so it was stopped. Use raw mode, or another chat template."
REFUSED = "uses something Duet does not allow in a template (access to attribute "
HOSTILE = {
    "nested_ranges": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        SLOW,
    ),
    "loop_if_filter": (
        "{% for i in range(100000) %}{% for j in range(100000) if j < 0 %}{% endfor %}{% endfor %}",
        SLOW,
    ),
    "exponential_macro": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
        SLOW,
    ),
    "select_loop": (
        "{% for i in range(100000) %}{{ range(100000)|select('odd')|list|length }}{% endfor %}",
        SLOW,
    ),
    "repeat": ("{% for i in range(100) %}{{ 'x' * 10**8 }}{% endfor %}", BIG),
    "repeat_list": ("{{ ([1] * 10**9)|length }}", BIG),
    "concat_doubling": (
        "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        BIG,
    ),
    "plus_doubling": (
        "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        BIG,
    ),
    "output_stream": ("{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}", BIG),
    "center_filter": ("{{ 'x'|center(10**9) }}", BIG),
    "ljust_method": ("{{ 'x'.ljust(10**9) }}", BIG),
    "printf_width": ("{{ '%999999999s' % 'x' }}", BIG),
    "format_width": ("{{ '{:>999999999}'.format('x') }}", BIG),
    "format_filter": ("{{ '%*s'|format(10**9, 'x') }}", BIG),
    "replace_filter": ("{{ ('x' * 1000000)|replace('x', 'y' * 100000) }}", BIG),
    "replace_method": ("{{ ('x' * 1000000).replace('', 'y' * 100000) }}", BIG),
    "join_filter": ("{{ range(100000)|map('center', 100000)|join }}", BIG),
    "join_method": ("{{ ''.join(['x' * 1000000] * 100000) }}", BIG),
    "print_list": ("{{ ['x' * 1000000] * 100000 }}", BIG),
    "string_filter": ("{{ (['x' * 1000000] * 100000)|string|length }}", BIG),
    "tojson_filter": ("{{ (['x' * 1000000] * 100000)|tojson|length }}", BIG),
    "sum_filter": ("{{ ([[1] * 1000000] * 1000000)|sum(start=[])|length }}", BIG),
    "power": ("{{ (2 ** (10 ** 9)) % 7 }}", BIG),
    "indent_filter": ("{{ ('\\n' * 1000000)|indent(100000, true, true)|length }}", BIG),
    "batch_filter": ("{{ [1]|batch(10**9, 'x')|list|length }}", BIG),
    # Methods that build large values without a size check before building: refused outright,
    # or checked against every field that repeats an argument.
    "translate_method": ("{{ ('x' * 4000).translate({120: 'y' * 100000}) }}", REFUSED),
    "bytes_repeat": ("{{ (('x' * 1000000).encode() * 300)|length }}", REFUSED),
    "bytes_from_int": ("{{ (1).to_bytes(10**9, 'big')|length }}", REFUSED),
    "format_repeated_field": ("{{ ('{0}' * 600000).format('x' * 2000000)|length }}", BIG),
    "format_map_repeated_field": (
        "{{ ('{a}' * 600000).format_map({'a': 'x' * 2000000})|length }}",
        BIG,
    ),
    "printf_repeated_key": ("{{ (('%(a)s' * 300000) % {'a': 'x' * 2000000})|length }}", BIG),
    "format_filter_repeated_key": (
        "{{ ('%(a)s' * 300000)|format(a='x' * 2000000)|length }}",
        BIG,
    ),
    "expandtabs_method": ("{{ ('\\t' * 1000000).expandtabs(100000)|length }}", BIG),
    "zfill_method": ("{{ 'x'.zfill(10**9)|length }}", BIG),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_template_is_stopped_with_a_plain_message(case: str) -> None:
    source, expected = HOSTILE[case]
    try:
        done = subprocess.run(
            [sys.executable, "-c", _RENDER, source],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the template ran for 30 s")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    outcome = result["outcome"]
    assert outcome.startswith("TemplateError: The hostile template "), outcome
    assert expected in outcome, outcome
    assert result["seconds"] < 5, result
    assert result["extra_mb"] < 200, result


def test_an_oversized_template_is_refused_before_compiling() -> None:
    huge = ChatTemplate("{{ 'x' }}" * 100_000, "huge template")
    with pytest.raises(TemplateError, match="huge template is 879 KB long; Duet runs templates"):
        render_chat([Message("user", "Hi")], SPEC, huge)


class _IgnoredGenerationTags(jinja2.ext.Extension):
    """{% generation %} blocks (SmolLM3) render their text, as llama.cpp and Duet render them."""

    tags = {"generation"}  # noqa: RUF012 - Jinja reads it as a plain set attribute

    def parse(self, parser: jinja2.parser.Parser) -> list[jinja2.nodes.Node]:
        next(parser.stream)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _reference(
    source: str, messages: list[Message], add_generation_prompt: bool, spec: TokenizerSpec = SPEC
) -> str:
    """What an unbounded sandbox renders: the environment Duet used before its limits."""

    def raise_exception(message: str) -> None:
        raise jinja2.TemplateError(message)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.loopcontrols", _IgnoredGenerationTags],
    )
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.filters["tojson"] = lambda value, indent=None, ensure_ascii=False: json.dumps(
        value, indent=indent, ensure_ascii=ensure_ascii
    )
    return env.from_string(source).render(
        messages=[{"role": m.role, "content": m.content} for m in messages],
        add_generation_prompt=add_generation_prompt,
        bos_token=spec.bos_token or "",
        eos_token=spec.eos_token or "",
    )


CONVERSATION = [
    Message("system", "You are terse."),
    *[
        Message("user", "Hi there! <b>Bold</b> {{ not a tag }} 50% off"),
        Message("assistant", "Hello. What do you need?"),
    ]
    * 3,
    Message("user", "A haiku about\nnew lines\tand tabs, please."),
]


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("*.jinja")), ids=lambda p: p.stem)
def test_real_templates_render_exactly_as_before_and_fast(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    template = ChatTemplate(source, path.name)
    # A template without a system role gets it folded into the first user turn, as before.
    seen = CONVERSATION if supports_system_role(template, SPEC) else _fold_system(CONVERSATION)
    for add in (True, False):
        rendered = render_chat(CONVERSATION, SPEC, template, add_generation_prompt=add)
        assert rendered.text == _reference(source, seen, add)
    start = time.perf_counter()
    for _ in range(10):
        render_chat(CONVERSATION, SPEC, template)
    assert (time.perf_counter() - start) / 10 < 0.05


def test_the_starter_template_renders_as_before(instruct_path: Path) -> None:
    from desktop.core.chat.prompts import template_of
    from desktop.core.models.gguf_info import read_model_info

    info = read_model_info(instruct_path)
    template = template_of(info)
    assert template is not None
    spec = TokenizerSpec.from_info(info)
    for add in (True, False):
        rendered = render_chat(CONVERSATION, spec, template, add_generation_prompt=add)
        assert rendered.text == _reference(template.source, CONVERSATION, add, spec)
