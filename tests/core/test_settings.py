"""App settings: the overflow policy and the mode are one of a few values, saved and read back
as such; anything else in the file falls back to the default with a note."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from desktop.core.errors import InvalidSettings
from desktop.core.settings import OVERFLOW_POLICIES, AppSettings, load_settings, save_settings


def test_each_overflow_policy_and_mode_is_saved_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    for overflow in OVERFLOW_POLICIES:
        for mode in ("raw", "chat"):
            settings = replace(AppSettings(), overflow=overflow, mode=mode)
            save_settings(settings, path)
            assert load_settings(path) == (settings, [])


def test_an_unknown_overflow_policy_or_mode_falls_back_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"overflow": "truncate", "mode": "poem", "n_ctx": 2048}))
    settings, notes = load_settings(path)
    assert (settings.overflow, settings.mode, settings.n_ctx) == ("stop", "chat", 2048)
    assert sorted(notes) == [
        "Ignored saved mode: mode must be raw or chat, not 'poem'.",
        "Ignored saved overflow: overflow must be one of stop, drop_oldest, not 'truncate'.",
    ]


def test_an_unknown_overflow_policy_is_refused_on_the_way_out(tmp_path: Path) -> None:
    bad = replace(AppSettings(), overflow="truncate")  # type: ignore[arg-type]  # on purpose
    with pytest.raises(InvalidSettings, match="overflow must be one of stop, drop_oldest"):
        save_settings(bad, tmp_path / "settings.json")
    assert not (tmp_path / "settings.json").exists()


def test_the_open_chat_and_document_are_kept_and_a_bad_one_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    save_settings(replace(AppSettings(), open_chat=7, open_document=9), path)
    settings, notes = load_settings(path)
    assert (settings.open_chat, settings.open_document, notes) == (7, 9, [])
    path.write_text(json.dumps({"open_chat": -3, "open_document": "../../etc/passwd"}))
    settings, notes = load_settings(path)
    assert (settings.open_chat, settings.open_document) == (0, 0)
    assert len(notes) == 2
