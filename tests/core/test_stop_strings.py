"""Stop strings the person sets: typed as text with escapes, bounded, saved with the settings,
recorded with each reply and read back from an export."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from desktop.core.chat.sampling import (
    MAX_STOP_CHARS,
    MAX_STOPS,
    SamplingParams,
    format_stops,
    parse_stops,
)
from desktop.core.chat.scaffolds import SCAFFOLDS, scaffold_named
from desktop.core.chat.store import checked_export
from desktop.core.errors import InvalidExport, InvalidSettings
from desktop.core.settings import AppSettings, load_settings, save_settings


@pytest.mark.parametrize(
    ("typed", "stops"),
    [
        ("", ()),
        ("END", ("END",)),
        (r"\nQ:, END", ("\nQ:", "END")),
        (r"a\,b, \\n", ("a,b", "\\n")),
        (r"\n\nUser:,  ,\t", ("\n\nUser:", "\t")),
        ("%s, ../x, {{x}}", ("%s", "../x", "{{x}}")),
    ],
)
def test_stops_are_typed_with_escapes_and_shown_back_the_same(
    typed: str, stops: tuple[str, ...]
) -> None:
    assert parse_stops(typed) == stops
    assert parse_stops(format_stops(stops)) == stops


def test_too_many_or_too_long_stops_are_refused_with_the_limit() -> None:
    with pytest.raises(InvalidSettings, match=str(MAX_STOPS)):
        parse_stops(", ".join(f"s{i}" for i in range(MAX_STOPS + 1)))
    with pytest.raises(InvalidSettings, match=str(MAX_STOP_CHARS)):
        SamplingParams(stop=("x" * (MAX_STOP_CHARS + 1),)).validated()
    with pytest.raises(InvalidSettings, match="text"):
        SamplingParams().with_changes(stop=[1, 2])
    with pytest.raises(InvalidSettings):
        parse_stops("a\\")  # a lone backslash at the end


def test_the_prompts_stops_come_first_and_none_twice() -> None:
    sampling = SamplingParams(stop=("END", "\nUser:"))
    assert sampling.stops_with(("\nUser:", "</s>")) == ("\nUser:", "</s>", "END")


def test_stops_are_saved_with_the_settings_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = replace(AppSettings(), sampling=SamplingParams(stop=("\nQ:", "END")))
    save_settings(settings, path)
    assert load_settings(path) == (settings, [])
    data = json.loads(path.read_text())
    data["sampling"]["stop"] = ["x" * 10_000]
    path.write_text(json.dumps(data))
    loaded, notes = load_settings(path)
    assert loaded.sampling.stop == () and len(notes) == 1


def test_a_reply_made_with_stop_strings_exports_and_imports_again() -> None:
    meta = {"sampling": SamplingParams(stop=("\nQ:",)).to_dict()}
    export = {
        "format": "duet-chat",
        "title": "t",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "yo", "meta": json.loads(json.dumps(meta))},
        ],
    }
    checked = checked_export(export)
    assert checked.messages[1].meta.sampling["stop"] == ["\nQ:"]
    export["messages"][1]["meta"]["sampling"]["stop"] = ["x"] * 10_000  # type: ignore[index]
    with pytest.raises(InvalidExport):
        checked_export(export)


def test_the_few_shot_and_dialogue_scaffolds_carry_the_stop_that_ends_their_turn() -> None:
    assert scaffold_named("Few-shot Q/A").stop == ("\nQ:",)
    assert scaffold_named("Dialogue transcript").stop == ("\nUser:",)
    for scaffold in SCAFFOLDS:  # no scaffold contains its own stop after the part to continue
        for stop in scaffold.stop:
            assert stop.strip() in scaffold.text


@pytest.mark.parametrize("stops", [(" END",), ("Q: ",), ("  ",), (" User:", "x , y")])
def test_spaces_at_the_ends_of_a_stop_survive_the_field(stops: tuple[str, ...]) -> None:
    assert parse_stops(format_stops(stops)) == stops
    assert parse_stops(r" \sEND ") == (" END",)


def test_a_sampling_value_that_is_not_an_object_falls_back(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"sampling": ["temperature", 2], "n_ctx": 2048}))
    settings, notes = load_settings(path)
    assert settings.n_ctx == 2048 and settings.sampling == AppSettings().sampling
    assert len(notes) == 1


def test_an_imported_reply_with_an_empty_stop_string_is_refused() -> None:
    export = {
        "format": "duet-chat",
        "title": "t",
        "messages": [{"role": "assistant", "content": "yo", "meta": {"sampling": {"stop": [""]}}}],
    }
    with pytest.raises(InvalidExport):
        checked_export(export)


def test_sampling_read_back_from_json_runs_as_saved() -> None:
    saved = json.loads(json.dumps(SamplingParams(stop=("\nQ:",)).to_dict()))
    assert SamplingParams(**saved).validated().stop == ("\nQ:",)
