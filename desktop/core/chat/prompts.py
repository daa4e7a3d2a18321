"""The two modes, as the exact text a model receives.

- Raw: the document is the prompt. Nothing is added but the model's BOS token, and only where
  its metadata asks for it.
- Chat: a system prompt and messages rendered with the model's own chat template (from its
  GGUF metadata) in a Jinja sandbox, ending in the generation prompt. A model with no template,
  a base model, gets a plain, labelled "User:/Assistant:" transcript with stop strings, so its
  chat behaviour is visible instead of an empty reply from a guessed template.

The rendered text includes BOS as text (for example `<bos>`), so what Duet shows is exactly what
the model gets; the engine turns a leading BOS text back into the BOS token when tokenizing.
"""

from __future__ import annotations

import builtins
import functools
import json
import math
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NoReturn

import jinja2
import jinja2.ext
import jinja2.sandbox
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.nodes import EvalContext
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.utils import Namespace, generate_lorem_ipsum, pass_eval_context

from desktop.core.atomic_file import NotARegularFile, refuse_special
from desktop.core.errors import DuetError, TemplateError
from desktop.core.models.gguf_info import ModelInfo

Mode = Literal["raw", "chat"]
MODES: tuple[Mode, ...] = ("raw", "chat")
# A role is whatever the template knows ("tool_response", "ipython", "document", ...): Duet
# passes any through, as llama.cpp does, and refuses only what cannot be a role name.
MAX_ROLE_CHARS = 64

FALLBACK_TEMPLATE_NAME = "plain transcript (no chat template)"
FALLBACK_STOP = ("\nUser:", "\nAssistant:")
FALLBACK_NOTE = (
    "No chat template: using a plain transcript. A base model continues text rather than answering."
)
SYSTEM_FOLDED_NOTE = (
    "This template has no system role: the system prompt was put at the start of the first "
    "user message, as llama.cpp does."
)
SYSTEM_DROPPED_NOTE = (
    "This template has no system role and no message follows the system prompt, so it was left "
    "out, as llama.cpp does. Write a message to send it with."
)
_NEEDLE = "<duet system needle 7f3a>"


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class TokenizerSpec:
    """What prompt rendering needs from a tokenizer: its BOS/EOS text and whether BOS is added."""

    bos_token: str | None
    eos_token: str | None
    add_bos: bool

    @classmethod
    def from_info(cls, info: ModelInfo) -> TokenizerSpec:
        return cls(bos_token=info.bos_token, eos_token=info.eos_token, add_bos=info.add_bos)


@dataclass(frozen=True)
class ChatTemplate:
    source: str
    name: str  # where it came from, for messages: "chat template of X.gguf" or a file path


@dataclass(frozen=True)
class RenderedPrompt:
    text: str  # exactly what the model receives, special tokens as text
    mode: Mode
    template_name: str | None  # None in raw mode
    stop: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    uses_fallback: bool = False
    # For an engine that renders its own template (a server): the messages it is sent. `text`
    # then shows them as sent, since the text the model receives is made on the server.
    messages: tuple[Message, ...] = ()


def template_of(info: ModelInfo) -> ChatTemplate | None:
    if not info.has_chat_template or info.chat_template is None:
        return None
    return ChatTemplate(source=info.chat_template, name=f"chat template of {info.path.name}")


def with_bos(text: str, spec: TokenizerSpec) -> str:
    if spec.add_bos and spec.bos_token and not text.startswith(spec.bos_token):
        return spec.bos_token + text
    return text


def exact(text: str, stop: tuple[str, ...] = ()) -> RenderedPrompt:
    """A prompt of exactly this text, nothing added (no BOS, no template): for callers that
    already hold the final text, such as `duet generate --prompt-file`, tests and benchmarks."""
    return RenderedPrompt(text=text, mode="raw", template_name=None, stop=tuple(stop))


def render_raw(document: str, spec: TokenizerSpec) -> RenderedPrompt:
    return RenderedPrompt(text=with_bos(document, spec), mode="raw", template_name=None)


def render_chat(
    messages: Sequence[Message],
    spec: TokenizerSpec,
    template: ChatTemplate | None,
    system: str | None = None,
    add_generation_prompt: bool = True,
) -> RenderedPrompt:
    """Render a conversation for generation: the template's own format, or the fallback.
    Without the generation prompt it is the conversation as it stands (for "open as raw")."""
    turns = list(messages)
    for i, message in enumerate(turns):
        check_role(message.role, f"Message {i + 1}")
    if system:
        turns = [Message("system", system), *[m for m in turns if m.role != "system"]]
    if template is None:
        return RenderedPrompt(
            text=with_bos(_render_fallback(turns, add_generation_prompt), spec),
            mode="chat",
            template_name=FALLBACK_TEMPLATE_NAME,
            stop=FALLBACK_STOP,
            notes=(FALLBACK_NOTE,),
            uses_fallback=True,
        )
    notes: tuple[str, ...] = ()
    if turns and turns[0].role == "system" and not supports_system_role(template, spec):
        notes = (SYSTEM_FOLDED_NOTE if len(turns) > 1 else SYSTEM_DROPPED_NOTE,)
        turns = _fold_system(turns)
    text = _render_template(template, turns, spec, add_generation_prompt)
    return RenderedPrompt(
        text=with_bos(text, spec), mode="chat", template_name=template.name, notes=notes
    )


def check_role(role: str, what: str) -> None:
    """Refuse a role that cannot be one: empty or blank, over MAX_ROLE_CHARS, or holding a
    control character (a newline in a role would forge a turn in many templates)."""
    if role.strip() and len(role) <= MAX_ROLE_CHARS and role.isprintable():
        return
    shown = repr(role if len(role) <= 20 else role[:20] + "…")  # one line, whatever it holds
    raise DuetError(
        f"{what} has role {shown}: a role is 1 to {MAX_ROLE_CHARS} printable characters, "
        'like "user", "assistant" or "tool_response".'
    )


def supports_system_role(template: ChatTemplate, spec: TokenizerSpec) -> bool:
    """Whether a system message survives rendering: probed once per template, as llama.cpp does."""
    return _probe_system(template.source, spec.bos_token or "", spec.eos_token or "", template.name)


@lru_cache(maxsize=32)
def _probe_system(source: str, bos: str, eos: str, name: str) -> bool:
    probe = [Message("system", _NEEDLE), Message("user", "Hi")]
    try:
        rendered = _render(_compile(source, name), probe, bos, eos, name)
    except _TemplateStopped:
        raise  # over a limit: the real render would be too, so say it now
    except TemplateError:
        return False
    return _NEEDLE in rendered


def _fold_system(turns: Sequence[Message]) -> list[Message]:
    """A leading system message, for a template without a system role, exactly as llama.cpp's
    Jinja path does it (common/chat.cpp, workaround::system_message_not_supported): joined to
    the next message, whatever its role, with one newline; dropped if nothing follows."""
    system, rest = turns[0], list(turns[1:])
    if rest:
        rest[0] = Message(rest[0].role, f"{system.content}\n{rest[0].content}")
    return rest


def _render_fallback(turns: Iterable[Message], add_generation_prompt: bool = True) -> str:
    parts: list[str] = []
    for message in turns:
        if message.role == "system":
            parts.append(message.content.strip() + "\n\n")
        else:
            speaker = "Assistant" if message.role == "assistant" else "User"
            parts.append(f"{speaker}: {message.content.strip()}\n")
    if add_generation_prompt:
        parts.append("Assistant:")
    return "".join(parts)


def _render_template(
    template: ChatTemplate, turns: list[Message], spec: TokenizerSpec, add_generation_prompt: bool
) -> str:
    compiled = _compile(template.source, template.name)
    bos, eos = spec.bos_token or "", spec.eos_token or ""
    return _render(compiled, turns, bos, eos, template.name, add_generation_prompt)


# Rendering a template ----------------------------------------------------------------------------
# A chat template comes from a model file: foreign code. The Jinja sandbox keeps it away from
# Python's internals; the limits below keep it from freezing or exhausting Duet.
# - Time: a deadline, checked on every step of every {% for %} loop (each loop's iterable is
#   wrapped when the template is compiled), every call, filter, test and operator. Anything else
#   a template does is bounded by its source and the sizes below. (A trace function would check
#   every line, but makes every render 4-20 times slower.)
# - Size: every operation that can build a large string or list (repetition, concatenation,
#   formatting, padding, joining, replacing, printing) checks its result's size before building
#   it, and the output is counted as it is produced. Methods whose result size cannot be known
#   cheaply beforehand (str.translate) and everything about bytes (str.encode, int.to_bytes)
#   are refused: no real template uses them, and bytes escape the text checks.
# - Compiling: constant folding, which would run template code at compile time, is off, and the
#   source is capped, so compiling is bounded by the source's length.

RENDER_SECONDS = 2.0
MAX_TEMPLATE_CHARS = 128 * 1024  # the longest real templates are about 16 KB
# Characters a render may produce (and any string it builds), beyond twice its messages' text.
OUTPUT_FLOOR = 4 * 2**20
_MAX_ITEMS = 1_000_000  # items in a list or a join a template builds
_SLOW_FILTER_CHARS = 256 * 1024  # input of a filter that loops over words in Python
_MAX_INT_BITS = 100_000  # integers a template computes (2**100000 has 30,103 digits)
_COUNTED = "duet_counted"  # the filter every loop's iterable passes through
# Attributes a template may not touch on a str or a number (the sandbox answers an undefined
# value that raises SecurityError when called), and the bytes-like types it may not touch at all.
_REFUSED_ATTRIBUTES = frozenset(
    {"translate", "maketrans", "encode", "decode", "to_bytes", "from_bytes"}
)
_BYTES = (bytes, bytearray, memoryview)
_limit: ContextVar[int] = ContextVar("duet_template_limit", default=OUTPUT_FLOOR)
_deadline: ContextVar[float] = ContextVar("duet_template_deadline", default=math.inf)


class _Stopped(BaseException):
    """Raised inside a render that went over a limit. A BaseException, so a template's own
    error handling (or Jinja's, which catches Exception) cannot swallow it."""

    def __init__(self, reason: Literal["time", "size"]) -> None:
        super().__init__(reason)
        self.reason = reason


class _TemplateStopped(TemplateError):
    """A render stopped by a limit: it will not pass on a second try either."""


def _tick() -> None:
    if time.monotonic() > _deadline.get():
        raise _Stopped("time")


def _counted(iterable: Iterable[object]) -> Iterator[object]:
    """Every {% for %} loop's iterable, checked against the deadline at each step."""
    for item in iterable:
        _tick()
        yield item


def _too_big(length: int) -> None:
    if length > _limit.get():
        raise _Stopped("size")


def _size(value: object, depth: int = 0) -> int:
    """About how many characters `value` becomes as text, counted only as far as the limit:
    what printing or joining it would build."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, _BYTES):  # unreachable from a template: refused if ever reached
        raise _Stopped("size")
    if depth > 32:
        raise _Stopped("size")
    if isinstance(value, Mapping):
        items: Iterable[object] = (x for pair in value.items() for x in pair)
        count = len(value) * 2
    elif isinstance(value, (list, tuple, set, frozenset)):
        items, count = value, len(value)
    elif isinstance(value, Namespace):  # printed as its attributes
        return _size(getattr(value, "_Namespace__attrs", {}), depth + 1)
    else:
        return 32  # a number, None, an Undefined: short
    if count > _MAX_ITEMS:
        raise _Stopped("size")
    limit, total = _limit.get(), 2
    for item in items:
        total += _size(item, depth + 1) + 4
        if total > limit:
            raise _Stopped("size")
    return total


def _checked(value: object) -> object:
    """A finished value, refused if it is a string or list over the limits, or bytes."""
    if isinstance(value, str):
        _too_big(len(value))
    elif isinstance(value, _BYTES) or (
        isinstance(value, (list, tuple)) and len(value) > _MAX_ITEMS
    ):
        raise _Stopped("size")
    return value


def _join(parts: Iterable[object], separator: str = "", strict: bool = False) -> str:
    """ "".join(map(str, parts)) for template output, counting characters as the parts come;
    `strict`: str.join itself, which takes only strings."""
    pieces: list[str] = []
    total = 0
    for part in parts:
        _tick()
        if strict and not isinstance(part, str):
            raise TypeError(
                f"sequence item {len(pieces)}: expected str instance, {type(part).__name__} found"
            )
        _size(part)
        text = part if isinstance(part, str) else str(part)
        total += len(text) + len(separator)
        _too_big(total)
        pieces.append(text)
        if len(pieces) > _MAX_ITEMS:
            raise _Stopped("size")
    return separator.join(pieces)


def _check_repeat(left: object, right: object) -> None:
    """Repetition of any sequence: strings against the size limit, others against the item
    count; bytes never."""
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, _BYTES):
            raise _Stopped("size")
        if isinstance(seq, Sized) and isinstance(times, int) and not isinstance(seq, int):
            if isinstance(seq, str):
                _too_big(len(seq) * times)
            elif len(seq) * times > _MAX_ITEMS:
                raise _Stopped("size")
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and left.bit_length() + right.bit_length() > _MAX_INT_BITS
    ):
        raise _Stopped("size")


def _check_power(base: object, exponent: object) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and abs(base) > 1
        and exponent * base.bit_length() > _MAX_INT_BITS
    ):
        raise _Stopped("size")


# printf-style conversions ("%s", "%(key)r", "%10.3f", "%*d") and str.format fields' specs.
_PRINTF = re.compile(r"%(?:\(([^)]*)\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.?)", re.DOTALL)
_FORMAT_SPECS = re.compile(r"\{[^{}]*:([^{}]*)\}")
_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")
_REPR_GROWTH = 10  # repr/ascii of one character is at most 10 ("\U0001f600")


def _check_numbers(numbers: Iterable[str]) -> list[int]:
    """Widths and precisions: none taken from the arguments, none over the limit."""
    limit = _limit.get()
    if any(n == "*" or len(n) > 9 or int(n) > limit for n in numbers):
        raise _Stopped("size")
    return [int(n) for n in numbers]


def _field_size(value: object, conversion: str, numbers: list[int]) -> int:
    """At most how many characters one field becomes: its value as text (repr grows it),
    or its width or precision if larger."""
    grown = _size(value) * (_REPR_GROWTH if conversion in ("r", "a") else 1)
    return max([grown, *(n + 32 for n in numbers)])


def _check_format(fmt: object, right: object) -> None:
    """printf-style formatting, `fmt % right`: every conversion counted, each time it appears
    (one argument named a million times is a million copies), before any is built."""
    if not isinstance(fmt, str):
        return
    args = right if isinstance(right, tuple) else (right,)
    mapping = right if isinstance(right, Mapping) else {}
    total, index = len(fmt), 0
    for match in _PRINTF.finditer(fmt):  # lazily: a limit stops it early
        key, width, precision, conversion = match.groups()
        numbers = _check_numbers([n for n in (width, precision) if n])
        if conversion == "%" or not conversion:
            continue
        if key:
            value = mapping.get(key)
        else:
            value = args[index] if index < len(args) else None
            index += 1
        total += _field_size(value, conversion, numbers)
        _too_big(total)


def _check_str_format(fmt: str, args: Sequence[object], kwargs: Mapping[Any, object]) -> None:
    """str.format/format_map: every replacement field counted, each time it appears, before
    any is built; no width taken from the arguments ("{:{}}")."""
    if _NESTED_SPEC.search(fmt):
        raise _Stopped("size")
    total, index = len(fmt), 0
    fields = iter(string.Formatter().parse(fmt))  # lazily: a limit stops it early
    while True:
        try:
            _literal, field, spec, conversion = next(fields)
        except StopIteration:
            return
        except ValueError:
            return  # malformed: str.format refuses it without building anything
        if field is None:
            continue
        numbers = _check_numbers(re.findall(r"\d+", spec or ""))
        # The field's first name picks the argument; an attribute or item of it is no larger.
        head = re.match(r"[^.\[]*", field)
        name = head.group() if head else ""
        value: object = None
        if not name:
            value = args[index] if index < len(args) else None
            index += 1
        elif name.isdigit():
            value = args[int(name)] if int(name) < len(args) else None
        else:
            value = kwargs.get(name)
        total += _field_size(value, conversion or "", numbers)
        _too_big(total)


def _check_replace(text: object, old: object, new: object, count: object = -1) -> None:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    _too_big(len(text) + found * max(0, len(new) - len(old)))


def _check_width(text: object, width: object) -> None:
    if isinstance(width, int):
        _too_big(max(width, len(text) if isinstance(text, str) else 0))


def _check_str_method(name: str, text: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    params = [*args, *kwargs.values()]
    if name in ("center", "ljust", "rjust", "zfill") and params:
        _check_width(text, params[0])
    elif name == "expandtabs":
        size = params[0] if params else 8
        if isinstance(size, int):
            _too_big(len(text) + text.count("\t") * size)
    elif name == "replace" and len(params) >= 2:
        _check_replace(text, *params[:3])
    elif name == "format":
        _check_str_format(text, args, kwargs)
    elif name == "format_map" and args and isinstance(args[0], Mapping):
        _check_str_format(text, (), args[0])


@pass_eval_context
def _join_filter(
    eval_ctx: EvalContext, value: Iterable[object], d: str = "", attribute: str | None = None
) -> str:
    """Jinja's `join`, counting the characters as it goes."""
    if attribute is not None:
        value = map(make_attrgetter(eval_ctx.environment, attribute), value)
    return _join(value, str(d))


def _sum_filter_check(value: object, start: object = 0) -> None:
    if isinstance(value, (list, tuple)) and isinstance(start, (list, tuple, str)):
        total = len(start)
        for item in value:
            total += len(item) if isinstance(item, (list, tuple, str)) else 1
        if total > _MAX_ITEMS:
            raise _Stopped("size")


def _check_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Checks before a built-in filter runs, for those that can build more than they get."""
    values = [a for a in args if not isinstance(a, (EvalContext, Context, jinja2.Environment))]
    values += list(kwargs.values())
    if not values:
        return
    subject, params = values[0], values[1:]
    if name == "center" and params:
        _check_width(subject, params[0])
    elif name == "indent" and params:
        width = params[0]
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        lines = subject.count("\n") + 1 if isinstance(subject, str) else 1
        _too_big(len(str(subject)) + lines * pad)
    elif name == "replace" and len(params) >= 2:
        _check_replace(subject, *params[:3])
    elif name == "format":
        # Jinja's format filter: `value % (kwargs or args)`.
        positional = [a for a in args if not isinstance(a, (EvalContext, Context))][1:]
        _check_format(subject, dict(kwargs) if kwargs else tuple(positional))
    elif name in ("string", "pprint", "tojson", "list", "e", "escape", "forceescape"):
        _size(subject)
    elif name == "sum":
        _sum_filter_check(subject, params[-1] if len(params) >= 2 else kwargs.get("start", 0))
    elif name in ("wordwrap", "urlize"):
        # Pure-Python loops over the words: keep them short enough to finish in time.
        _size(subject)
        if isinstance(subject, str) and len(subject) > _SLOW_FILTER_CHARS:
            raise _Stopped("size")
    elif name in ("batch", "slice") and params:
        count = params[0]
        if isinstance(count, int) and count > _MAX_ITEMS:
            raise _Stopped("size")


def _bounded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)  # keeps Jinja's pass_context/pass_eval_context marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        _check_filter(name, args, kwargs)
        return _checked(fn(*args, **kwargs))

    return bounded


class _BoundedEnvironment(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The sandbox, with every way to build a large value checked (see above)."""

    intercepted_binops = frozenset({"*", "+", "%", "**"})
    concat = staticmethod(_join)  # template output, macro bodies, {% set %} blocks

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """The sandbox's rules, less the ways to bytes and str.translate (see above)."""
        if isinstance(obj, _BYTES) or (
            isinstance(obj, (str, int, float)) and attr in _REFUSED_ATTRIBUTES
        ):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        """Jinja's hook between parsing and code generation: wrap each loop's iterable."""
        for loop in list(source.find_all(nodes.For)):
            loop.iter = nodes.Filter(
                loop.iter, _COUNTED, [], [], None, None, lineno=loop.iter.lineno
            )
        return super()._generate(source, name, filename, defer_init)

    def call_test(
        self,
        name: str,
        value: Any,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        context: Context | None = None,
        eval_ctx: EvalContext | None = None,
    ) -> Any:
        _tick()  # select/reject loop over their input in Python, testing each item here
        return super().call_test(name, value, args, kwargs, context, eval_ctx)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "+" and isinstance(left, (str, list, tuple)):
            if isinstance(right, type(left)):
                if isinstance(left, str):
                    _too_big(len(left) + len(right))
                elif len(left) + len(right) > _MAX_ITEMS:
                    raise _Stopped("size")
        elif operator == "%":
            _check_format(left, right)
        elif operator == "**":
            _check_power(left, right)
        return _checked(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        method = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str):
            name = getattr(method, "__name__", "")
            if name == "join" and len(args) == 1 and not kwargs:
                return _join(args[0], owner, strict=True)
            _check_str_method(name, owner, args, kwargs)
        return _checked(super().call(__context, __obj, *args, **kwargs))


def _finalize(value: object) -> object:
    """Every {{ value }} passes here before it becomes text."""
    _size(value)
    return value


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Jinja's lorem ipsum, a few paragraphs at most."""
    small = builtins.min
    return str(
        generate_lorem_ipsum(n=small(n, 20), html=html, min=small(min, 100), max=small(max, 100))
    )


def _raise_exception(message: str) -> NoReturn:
    raise jinja2.TemplateError(message)


def _tojson(value: object, indent: int | None = None, ensure_ascii: bool = False) -> str:
    _size(value)
    if isinstance(indent, int):
        indent = min(indent, 16)
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)


def _strftime_now(fmt: str) -> str:
    _check_format(fmt, ())  # "%999999999Y" pads
    return datetime.now().strftime(fmt)


class _GenerationBlocks(jinja2.ext.Extension):
    """transformers' `{% generation %}...{% endgeneration %}`, which marks an assistant turn for
    training masks (SmolLM3's template uses it): the text inside, rendered where it stands, as
    llama.cpp does (common/jinja/parser.cpp ignores the two tags)."""

    tags = {"generation"}  # noqa: RUF012 - Jinja reads it as a plain set attribute

    def parse(self, parser: Parser) -> list[nodes.Node]:
        next(parser.stream)  # the `generation` name
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


@lru_cache(maxsize=1)
def _environment() -> _BoundedEnvironment:
    # The same environment as transformers' apply_chat_template, so templates render as their
    # authors tested them: trim/lstrip blocks, loop controls, raise_exception, tojson.
    env = _BoundedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.loopcontrols", _GenerationBlocks],
        finalize=_finalize,
        optimized=False,  # no constant folding: it would run template code while compiling
    )
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["lipsum"] = _lipsum
    env.filters["tojson"] = _tojson
    env.filters["join"] = _join_filter
    for name, fn in list(env.filters.items()):
        env.filters[name] = _bounded_filter(name, fn)
    env.filters[_COUNTED] = _counted
    return env


@contextmanager
def _limits(seconds: float, characters: int) -> Iterator[None]:
    """Run the block under a deadline and a size limit (context variables: this thread only)."""
    deadline = _deadline.set(time.monotonic() + seconds)
    limit = _limit.set(characters)
    try:
        yield
    finally:
        _limit.reset(limit)
        _deadline.reset(deadline)


def _stopped_error(name: str, stop: _Stopped | MemoryError, characters: int) -> TemplateError:
    if isinstance(stop, _Stopped) and stop.reason == "time":
        what = f"ran longer than {RENDER_SECONDS:g} s"
    elif isinstance(stop, _Stopped):
        what = f"built more than {characters / 1e6:,.0f} MB of text"
    else:
        what = "needed more memory than Duet can give it"
    return _TemplateStopped(
        f"The {name} {what}, so it was stopped. Use raw mode, or another chat template."
    )


@lru_cache(maxsize=32)
def _compile(source: str, name: str) -> jinja2.Template:
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(
            f"The {name} is {len(source) / 1024:,.0f} KB long; Duet runs templates up to "
            f"{MAX_TEMPLATE_CHARS // 1024} KB. Use raw mode, or another chat template."
        )
    try:
        compiled = _environment().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(
            f"The {name} does not parse: {exc.message} (template line {exc.lineno})."
        ) from None
    except Exception as exc:  # nested too deeply for the compiler, for one
        raise TemplateError(f"The {name} does not parse: {type(exc).__name__}: {exc}") from None
    # '~' joins through the template module's str_join: count its characters too.
    namespace = compiled.root_render_func.__globals__
    namespace["str_join"] = namespace["markup_join"] = _join
    return compiled


def _render(
    compiled: jinja2.Template,
    turns: Sequence[Message],
    bos: str,
    eos: str,
    name: str,
    add_generation_prompt: bool = True,
) -> str:
    characters = OUTPUT_FLOOR + 2 * sum(len(m.content) for m in turns)
    try:
        with _limits(RENDER_SECONDS, characters):
            return compiled.render(
                messages=[{"role": m.role, "content": m.content} for m in turns],
                add_generation_prompt=add_generation_prompt,
                bos_token=bos,
                eos_token=eos,
            )
    except (_Stopped, MemoryError) as stop:
        raise _stopped_error(name, stop, characters) from None
    except SecurityError as exc:
        raise TemplateError(
            f"The {name} uses something Duet does not allow in a template "
            f"({str(exc).rstrip('.')}). Use raw mode, or another chat template."
        ) from None
    except jinja2.TemplateError as exc:
        raise TemplateError(f"The {name} refused this conversation: {exc}") from None
    except Exception as exc:  # a template is foreign code: any failure is the template's
        raise TemplateError(f"The {name} failed: {type(exc).__name__}: {exc}") from None


def load_template_file(path: Path) -> ChatTemplate:
    """A template file, read no further than the longest template Duet runs: a device, a pipe
    or a file of gigabytes is refused, not read into memory."""
    limit = 4 * MAX_TEMPLATE_CHARS  # bytes: UTF-8 takes up to four per character
    try:
        refuse_special(path)
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except NotARegularFile as exc:
        raise DuetError(
            f"The template {path} is {exc.strerror}; give a .jinja text file."
        ) from None
    except OSError as exc:
        raise DuetError(f"Cannot read the template {path}: {exc.strerror or exc}.") from None
    too_long = DuetError(
        f"The template {path} is longer than {MAX_TEMPLATE_CHARS // 1024} KB, the longest "
        "template Duet runs (real ones are about 16 KB). Check that it is the right file."
    )
    if len(data) > limit:
        raise too_long
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DuetError(f"The template {path} is not UTF-8 text.") from None
    if len(source) > MAX_TEMPLATE_CHARS:
        raise too_long
    return ChatTemplate(source=source, name=f"template {path}")


def messages_from_json(data: object, where: str) -> list[Message]:
    """An OpenAI-style message list: [{"role": ..., "content": str | [{"type": "text", ...}]}]."""
    if not isinstance(data, list):
        raise DuetError(
            f'{where}: expected a JSON list of messages, like [{{"role": "user", "content": "Hi"}}].'
        )
    messages: list[Message] = []
    for i, item in enumerate(data):
        if not isinstance(item, Mapping) or "role" not in item or "content" not in item:
            raise DuetError(f"{where}: message {i + 1} needs a 'role' and a 'content'.")
        content = item["content"]
        if isinstance(content, list):  # content parts: keep the text ones
            content = "".join(
                str(part.get("text", "")) for part in content if isinstance(part, Mapping)
            )
        if not isinstance(content, str) or not isinstance(item["role"], str):
            raise DuetError(f"{where}: message {i + 1} has a non-text role or content.")
        check_role(item["role"], f"{where}: message {i + 1}")
        messages.append(Message(item["role"], content))
    return messages
