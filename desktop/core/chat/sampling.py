"""Sampling settings, their allowed ranges and presets.

The ranges live here, once: the CLI, the settings panel and the engine all validate against
them, so an out-of-range value is refused where it is typed, not at generation time.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from desktop.core.errors import InvalidSettings

MAX_SEED = 2**32 - 2  # llama.cpp reserves 0xFFFFFFFF for "pick a random seed"
# Each stop string is matched against the tail of the output at every token: a few short ones.
MAX_STOPS = 16
MAX_STOP_CHARS = 100
_ESCAPES = {"n": "\n", "t": "\t", "s": " ", "\\": "\\", ",": ","}


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    label: str
    help: str = ""  # what the setting does, in a sentence (the panel's tooltip)


RANGES: dict[str, Range] = {
    "temperature": Range(
        0.0,
        5.0,
        "temperature",
        "How adventurous each pick is: 0 always takes the likeliest token (greedy), higher "
        "values give unlikely tokens more chances.",
    ),
    "top_p": Range(
        0.0,
        1.0,
        "top-p",
        "Keep only the likeliest tokens whose probabilities add up to this share (1 keeps all).",
    ),
    "top_k": Range(
        0, 1000, "top-k", "Keep only this many likeliest tokens at each step (0 keeps all)."
    ),
    "min_p": Range(
        0.0,
        1.0,
        "min-p",
        "Drop tokens less likely than this fraction of the likeliest one (0 keeps all).",
    ),
    "repeat_penalty": Range(
        0.5,
        2.0,
        "repeat penalty",
        "Make tokens used in the repeat window less likely (above 1) or more likely (below 1); "
        "1 is off.",
    ),
    "repeat_last_n": Range(
        0, 4096, "repeat window", "How many recent tokens the repeat penalty looks at."
    ),
    "max_tokens": Range(
        1,
        131072,
        "max tokens",
        "The longest reply, in tokens: it stops here if the model has not ended it.",
    ),
}


def described(name: str) -> str:
    """A setting's tooltip: what it does and its allowed range."""
    bounds = RANGES[name]
    low, high = (
        (f"{bounds.low:g}", f"{bounds.high:g}")
        if isinstance(bounds.low, float)
        else (str(bounds.low), str(bounds.high))
    )
    return f"{bounds.help} From {low} to {high}."


@dataclass(frozen=True)
class SamplingParams:
    """llama.cpp's own defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, no penalty.
    temperature 0 means greedy. seed None means a fresh random seed, reported back in the stats."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64
    max_tokens: int = 256
    seed: int | None = None
    # The person's stop strings, used after the prompt's own (a template's end-of-turn text).
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Read back from JSON (settings, an export), the stop strings are a list.
        if isinstance(self.stop, list):
            object.__setattr__(self, "stop", tuple(self.stop))

    def validated(self) -> SamplingParams:
        for name, bounds in RANGES.items():
            value = getattr(self, name)
            # Counts go to llama.cpp as C ints: 40.5 (from a settings file) fails every reply.
            if isinstance(bounds.low, int) and type(value) is not int:
                raise InvalidSettings(f"{bounds.label} must be a whole number, not {value!r}.")
            if not bounds.low <= value <= bounds.high:
                raise InvalidSettings(
                    f"{bounds.label} must be between {_fmt(bounds.low)} and {_fmt(bounds.high)}, "
                    f"not {_fmt(value)}."
                )
        if self.seed is not None and type(self.seed) is not int:
            raise InvalidSettings(f"seed must be a whole number, not {self.seed!r}.")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise InvalidSettings(f"seed must be between 0 and {MAX_SEED}, not {self.seed}.")
        _check_stops(self.stop)
        return self

    def with_changes(self, **changes: Any) -> SamplingParams:
        return replace(self, **changes).validated()

    def stops_with(self, prompt_stops: tuple[str, ...]) -> tuple[str, ...]:
        """Every stop string of a reply: the prompt's own first, then the person's, none twice."""
        return tuple(dict.fromkeys((*prompt_stops, *self.stop)))

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


PRESETS: dict[str, SamplingParams] = {
    "Deterministic": SamplingParams(temperature=0.0, top_p=1.0, top_k=1, min_p=0.0, seed=0),
    "Balanced": SamplingParams(),
    "Creative": SamplingParams(temperature=1.1, top_p=0.98, top_k=100, min_p=0.02),
}


def _fmt(value: float) -> str:
    return f"{value:g}"


def _check_stops(stops: object) -> None:
    if not isinstance(stops, tuple) or not all(isinstance(s, str) and s for s in stops):
        raise InvalidSettings("stop strings must be a list of non-empty texts.")
    if len(stops) > MAX_STOPS:
        raise InvalidSettings(f"at most {MAX_STOPS} stop strings, not {len(stops)}.")
    for stop in stops:
        if len(stop) > MAX_STOP_CHARS:
            raise InvalidSettings(
                f"a stop string is at most {MAX_STOP_CHARS} characters, not {len(stop)}."
            )


def parse_stops(typed: str) -> tuple[str, ...]:
    """Stop strings as typed in one line: separated by commas, with \\n for a new line, \\t
    for a tab, \\s for a space, \\, for a comma and \\\\ for a backslash. Spaces typed
    around each one are dropped; an escaped space is kept."""
    stops: list[str] = []
    current: list[tuple[str, bool]] = []  # each character, and whether it was escaped
    chars = iter(typed)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in _ESCAPES:
                shown = f"\\{escaped}" if escaped else "a lone \\ at the end"
                raise InvalidSettings(
                    f"{shown} is not an escape: use \\n, \\t, \\s, \\, or \\\\ in stop strings."
                )
            current.append((_ESCAPES[escaped], True))
        elif char == ",":
            stops.append(_piece(current))
            current = []
        else:
            current.append((char, False))
    stops.append(_piece(current))
    found = tuple(dict.fromkeys(s for s in stops if s))
    _check_stops(found)
    return found


def _piece(chars: list[tuple[str, bool]]) -> str:
    """One stop string, without the unescaped spaces typed around it."""
    while chars and chars[0] == (" ", False):
        chars = chars[1:]
    while chars and chars[-1] == (" ", False):
        chars = chars[:-1]
    return "".join(char for char, _escaped in chars)


def format_stops(stops: tuple[str, ...]) -> str:
    """Stop strings as `parse_stops` reads them back."""
    return ", ".join(_escaped(stop) for stop in stops)


def _escaped(stop: str) -> str:
    text = stop.replace("\\", "\\\\").replace(",", "\\,").replace("\n", "\\n")
    text = text.replace("\t", "\\t")
    # Spaces at the ends would be taken for the spaces typed around a stop string.
    inner = text.strip(" ")
    if not inner:
        return "\\s" * len(text)
    lead = len(text) - len(text.lstrip(" "))
    trail = len(text) - len(text.rstrip(" "))
    return "\\s" * lead + inner + "\\s" * trail
