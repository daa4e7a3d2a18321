"""Hostile files and text, second round: what reaches Duet from disk or the command line after
the reorganisation (the HF cache's links, registered paths, the JSON files Duet keeps, chat
exports, template files and chat ids typed on the command line)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

import gguf
import numpy as np
import pytest

from desktop.cli import main
from desktop.core.chat.history import ModelIdentity, missing_models
from desktop.core.chat.store import Store, checked_export
from desktop.core.errors import InvalidExport
from desktop.core.models import checksums
from desktop.core.models.gguf_info import kv_bytes_per_token, read_metadata_prefix, read_model_info
from desktop.core.models.library import Library
from desktop.core.models.memory import ModelNeed, set_estimate
from desktop.core.settings import AppSettings, load_settings
from tests.ggufs import write_gguf

DEEP = "[" * 100_000 + "]" * 100_000  # 200 KB of JSON nested past Python's recursion limit


def test_deleting_a_cached_model_leaves_a_file_its_link_points_to_outside_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot entry that links to a file of the user's outside the cache: Delete removes
    the entry, never the user's file."""
    (tmp_path / "mine").mkdir()
    outside = write_gguf(tmp_path / "mine" / "precious.gguf")
    cache = tmp_path / "hub"
    snapshot = cache / "models--someone--Tiny-GGUF" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "tiny.gguf").symlink_to(outside)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    library = Library()
    (model,) = [m for m in library.models() if m.source == "hf-cache"]
    said = library.remove(model)
    assert outside.is_file(), "a file outside the Hugging Face cache was deleted"
    assert not (snapshot / "tiny.gguf").is_symlink()
    assert str(outside) in said


@pytest.mark.parametrize("inside", ["tiny.gguf", "snapshots/tiny.gguf"], ids=["top", "subfolder"])
def test_deleting_a_cached_model_still_deletes_its_blob(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inside: str
) -> None:
    """Also when the repository keeps the file in a folder that is itself named snapshots."""
    cache = tmp_path / "hub"
    repo = cache / "models--someone--Tiny-GGUF"
    (repo / "blobs").mkdir(parents=True)
    blob = write_gguf(repo / "blobs" / ("b" * 64))
    entry = repo / "snapshots" / ("a" * 40) / inside
    entry.parent.mkdir(parents=True)
    entry.symlink_to(os.path.relpath(blob, entry.parent))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    library = Library()
    (model,) = [m for m in library.models() if m.source == "hf-cache"]
    assert library.remove(model).startswith("Deleted")
    assert not blob.exists() and not entry.is_symlink()


def test_a_registered_path_that_became_a_symlink_loop_is_one_problem(tmp_path: Path) -> None:
    library = Library()
    good = library.register(write_gguf(tmp_path / "good.gguf"))
    loop, other = tmp_path / "loop.gguf", tmp_path / "other.gguf"
    write_gguf(loop)
    library.register(loop)
    loop.unlink()
    loop.symlink_to(other)
    other.symlink_to(loop)
    try:
        found = {m.path for m in library.models()}
        assert good.path in found
        assert [p.path for p in library.problems] == [loop]
        assert "link" in library.problems[0].message
    finally:
        library.unregister(loop)
        library.unregister(good.path)


def test_a_deeply_nested_settings_file_falls_back_to_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(DEEP)
    settings, notes = load_settings(path)
    assert settings == AppSettings()
    assert len(notes) == 1 and "nested" in notes[0]


def test_a_deeply_nested_list_of_models_is_a_problem_not_a_failed_scan(duet_home: Path) -> None:
    library = Library()
    registry = library.dirs.registry
    registry.parent.mkdir(parents=True, exist_ok=True)
    saved = registry.read_text() if registry.exists() else None
    registry.write_text(DEEP)
    try:
        assert library.registered_paths() == []
        assert [p.path for p in library.problems] == [registry]
    finally:
        if saved is None:
            registry.unlink()
        else:
            registry.write_text(saved)


def test_a_deeply_nested_checksums_file_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remembered = tmp_path / "checksums.json"
    remembered.write_text(DEEP)
    monkeypatch.setattr(checksums, "_remembered", lambda: remembered)
    model = write_gguf(tmp_path / "m.gguf")
    assert checksums.known_sha256(model) is None


def test_a_deeply_nested_messages_file_is_one_line_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = tmp_path / "messages.json"
    messages.write_text(DEEP)
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}{{ m.content }}{% endfor %}")
    assert main(["render", "--template", str(template), "--messages", str(messages)]) == 1
    err = capsys.readouterr().err
    assert "nested" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("sampling", {"stop": ["\ud800"]}),
        ("sampling", {"\udc00": 1}),
        ("stats", {"\ud800x": "y"}),
    ],
)
def test_import_refuses_a_lone_surrogate_in_setting_names_and_stop_strings(
    tmp_path: Path, where: str, value: dict[str, object]
) -> None:
    data = {
        "format": "duet-chat",
        "messages": [{"role": "user", "content": "hi", "meta": {where: value}}],
    }
    store = Store(tmp_path / "h.sqlite3")
    try:
        with pytest.raises(InvalidExport, match="surrogate"):
            store.import_export(checked_export(json.loads(json.dumps(data))))
        assert store.list_chats() == []
    finally:
        store.close()


def test_warnings_about_missing_models_stay_short() -> None:
    """An export whose every reply names another model: a few lines, not 100,000 (shown in
    the window's error bar, 15 MB of text froze it for seconds)."""
    data = {
        "format": "duet-chat",
        "messages": [
            {"role": "assistant", "content": "", "meta": {"model_file": f"m{i}.gguf"}}
            for i in range(100_000)
        ],
    }
    installed = [ModelIdentity("mine", "base", None, "mine.gguf", None, "Q8_0", None)]
    started = time.monotonic()
    warnings = missing_models(data, installed)
    assert time.monotonic() - started < 2
    assert sum(len(w) for w in warnings) < 2_000
    assert "m0.gguf" in warnings[0]
    assert "99,995 other" in warnings[-1]


def test_a_missing_model_with_a_name_of_megabytes_is_named_short() -> None:
    meta = {"model_file": "m" * 10_000_000 + ".gguf", "model_repo": "r" * 10_000_000}
    data = {"format": "duet-chat", "messages": [{"role": "assistant", "content": "", "meta": meta}]}
    (warning,) = missing_models(data, [])
    assert len(warning) < 1_000 and warning.startswith("Replies in this chat were made with mmm")


def test_a_few_missing_models_are_each_named() -> None:
    data = {
        "format": "duet-chat",
        "messages": [
            {"role": "assistant", "content": "", "meta": {"model_file": f"m{i}.gguf"}}
            for i in range(3)
        ],
    }
    assert [w.split(" with ")[1].split(",")[0] for w in missing_models(data, [])] == [
        "m0.gguf",
        "m1.gguf",
        "m2.gguf",
    ]


@pytest.mark.parametrize("chat_id", ["99999999999999999999999", str(2**63)])
def test_exporting_a_chat_id_beyond_any_id_is_one_line(
    chat_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", chat_id]) == 1
    err = capsys.readouterr().err
    assert "There is no chat" in err and "Traceback" not in err


def test_a_template_file_that_never_ends_is_refused_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    assert main(["render", "--template", "/dev/zero", "hi"]) == 1
    assert time.monotonic() - started < 2
    assert "not a regular file" in capsys.readouterr().err


def test_a_huge_template_file_is_refused_without_reading_it_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = tmp_path / "huge.jinja"
    with huge.open("wb") as handle:  # sparse: 8 GB on paper, nothing on disk
        handle.truncate(8 * 2**30)
    started = time.monotonic()
    assert main(["render", "--template", str(huge), "hi"]) == 1
    assert time.monotonic() - started < 2
    assert "KB" in capsys.readouterr().err


def _negative_layers_gguf(path: Path) -> Path:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(4096)
    writer.add_embedding_length(4096)
    writer.add_key_value("llama.block_count", -100_000, gguf.GGUFValueType.INT32)
    writer.add_head_count(32)
    writer.add_head_count_kv(8)
    writer.add_tensor("t", np.ones((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_negative_layer_count_never_makes_a_set_fit(tmp_path: Path) -> None:
    """A header claiming -100,000 layers gave a KV cache of -409 MB per token, and the compare
    planner said two 4 GB models fit an 8 GB machine at once in 'about -3346.6 GB'."""
    path = _negative_layers_gguf(tmp_path / "negative.gguf")
    info = read_model_info(path)
    assert info.kv_bytes_per_token() >= 0
    prefix = read_metadata_prefix(path.read_bytes())
    assert (kv_bytes_per_token(prefix) or 0) >= 0
    need = ModelNeed("a", 4_000_000_000, info.kv_bytes_per_token())
    estimate = set_estimate([need, replace(need, name="b")], 4096, machine=8 * 10**9)
    assert estimate.plan == "one after the other" and "-" not in estimate.sentence


@pytest.mark.parametrize(
    ("key", "value"),
    [("top_k", 40.5), ("repeat_last_n", 3.5), ("max_tokens", 10.5), ("seed", 1.5), ("top_k", True)],
)
def test_a_settings_file_with_a_fraction_for_a_whole_number_keeps_the_default(
    tmp_path: Path, key: str, value: object
) -> None:
    """llama.cpp's samplers take these as C ints: a saved top_k of 40.5 made every local
    reply fail with 'ArgumentError: argument 1: TypeError: wrong type'."""
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"sampling": {key: value}}))
    settings, notes = load_settings(path)
    assert getattr(settings.sampling, key) == getattr(AppSettings().sampling, key)
    assert len(notes) == 1 and "whole number" in notes[0]


@pytest.mark.parametrize("key", ["n_threads", "n_ctx", "open_chat"])
def test_a_settings_file_with_true_for_a_count_keeps_the_default(tmp_path: Path, key: str) -> None:
    """JSON's true is a Python bool, which is an int: `"n_threads": true` ran llama.cpp on one
    thread, read as 1, instead of being ignored with a note like any other wrong type."""
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({key: True}))
    settings, notes = load_settings(path)
    assert getattr(settings, key) == getattr(AppSettings(), key)
    assert notes == [f"Ignored saved {key}: wrong type bool"]


@pytest.mark.parametrize(
    "text",
    [DEEP, '[{"repo_id": "o/r", "parts": ["m.gguf"], "size": 1e400, "quant": "Q4"}]'],
    ids=["nested", "size-beyond-any-int"],
)
def test_a_damaged_list_of_downloads_to_continue_is_no_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    """The list is read as the window is built: a damage there must not stop Duet starting."""
    from desktop.core.hub.pending import load_pending, pending_path

    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))
    pending_path().parent.mkdir(parents=True)
    pending_path().write_text(text, encoding="utf-8")
    assert load_pending() == []
