"""Hub search, file listing, labels, RAM fit and error messages, through the real
huggingface_hub client against the local fake Hub."""

from __future__ import annotations

import os

import pytest

from desktop.core.errors import (
    HubAccessDenied,
    HubNotFound,
    HubOffline,
    HubRateLimited,
    HubUnreachable,
)
from desktop.core.hub import api as hub
from tests.fakehub import FakeHub


def test_search_finds_gguf_repos_most_downloaded_first(fake_hub: FakeHub) -> None:
    fake_hub.add_repo(
        "org/Tiny-Instruct-GGUF",
        {"tiny-instruct.Q4_K_M.gguf": b"x" * 10},
        downloads=5,
        tags=["gguf", "conversational"],
    )
    fake_hub.add_repo("org/Tiny-GGUF", {"tiny.Q4_K_M.gguf": b"y" * 10}, downloads=50)
    fake_hub.add_repo(
        "org/Tiny-safetensors", {"model.safetensors": b"z"}, downloads=500, tags=["safetensors"]
    )
    found = hub.search("tiny")
    assert [r.repo_id for r in found] == ["org/Tiny-GGUF", "org/Tiny-Instruct-GGUF"]
    assert [(r.kind, r.downloads) for r in found] == [("base", 50), ("instruct", 5)]


def test_files_are_listed_with_size_sha_and_quant_and_splits_grouped(fake_hub: FakeHub) -> None:
    fake_hub.add_repo(
        "org/Model-GGUF",
        {
            "Model.Q8_0.gguf": b"a" * 300,
            "Model.IQ3_XS.gguf": b"b" * 100,
            "big/Model-F16-00001-of-00002.gguf": b"c" * 200,
            "big/Model-F16-00002-of-00002.gguf": b"d" * 250,
            "README.md": b"readme",
            "../evil.gguf": b"e",
            "/etc/evil.gguf": b"f",
        },
        base_model="someone/Model-Instruct",
    )
    listing = hub.list_files("org/Model-GGUF")
    assert listing.repo.kind == "instruct" and listing.repo.kind_reason == "name"
    by_quant = {f.quant: f for f in listing.files}
    assert set(by_quant) == {"Q8_0", "IQ3_XS", "F16"}
    assert (
        by_quant["Q8_0"].size == 300 and by_quant["Q8_0"].sha256 and not by_quant["Q8_0"].is_split
    )
    split = by_quant["F16"]
    assert split.is_split and split.size == 450 and split.parts[0].endswith("00001-of-00002.gguf")
    assert sorted(listing.refused) == ["../evil.gguf", "/etc/evil.gguf"]
    assert listing.commit == fake_hub.repos["org/Model-GGUF"].commit


@pytest.mark.parametrize(
    ("repo_id", "tags", "base", "expected"),
    [
        ("org/Qwen2.5-0.5B-Instruct-GGUF", [], [], ("instruct", "name")),
        ("org/gemma-3-1b-it-GGUF", [], [], ("instruct", "name")),
        (
            "org/Quant-GGUF",
            ["base_model:quantized:meta/Llama-3.2-1B-Instruct"],
            ["meta/Llama-3.2-1B-Instruct"],
            ("instruct", "name"),
        ),
        ("org/Qwen2.5-0.5B-GGUF", ["conversational"], [], ("instruct", "tag conversational")),
        ("org/Mistral-7B-v0.3-GGUF", [], [], ("base", "no chat tags")),
        ("org/Qwen3-0.6B-Base-GGUF", ["conversational"], [], ("base", "name")),
    ],
)
def test_base_or_instruct_from_tags_and_base_model(
    repo_id: str, tags: list[str], base: list[str], expected: tuple[str, str]
) -> None:
    assert hub.label_repo(repo_id, tags, base) == expected


def test_ram_fit_estimate() -> None:
    gib = 1024**3
    small = hub.estimate_ram(gib, n_ctx=4096, kv_per_token=32 * 1024, machine=16 * gib)
    assert small.fit == "fits" and small.exact_kv and small.kv_cache == 128 * 1024**2
    assert hub.estimate_ram(9 * gib, machine=16 * gib).fit == "tight"
    assert hub.estimate_ram(20 * gib, machine=16 * gib).fit == "won't fit"
    assert not hub.estimate_ram(gib).exact_kv


def test_kv_size_from_a_remote_header(fake_hub: FakeHub, instruct_path) -> None:
    fake_hub.add_repo("org/Smol-GGUF", {"smol.Q4_1.gguf": instruct_path})
    file = hub.list_files("org/Smol-GGUF").files[0]
    assert hub.remote_kv_per_token(file) == 30 * 3 * (64 + 64) * 2
    # One Range request for the first half megabyte, not the whole 98 MB file.
    assert fake_hub.bytes_sent.get("smol.Q4_1.gguf", 0) <= 512 * 1024


def test_offline_mode_makes_no_connection(
    fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.add_repo("org/Model-GGUF", {"m.Q4_K_M.gguf": b"x"})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubOffline, match="Offline mode is on"):
        hub.search("model")
    with pytest.raises(HubOffline):
        hub.list_files("org/Model-GGUF")
    assert fake_hub.requests == []


@pytest.mark.parametrize(
    ("status", "headers", "error", "words"),
    [
        (
            401,
            {"X-Error-Message": "Invalid credentials in Authorization header"},
            HubAccessDenied,
            "hf auth login",
        ),
        (403, {}, HubAccessDenied, "(403)"),
        (403, {"X-Error-Code": "GatedRepo"}, HubAccessDenied, "gated"),
        (404, {"X-Error-Code": "RepoNotFound"}, HubNotFound, "does not exist, or it is private"),
        (429, {}, HubRateLimited, "wait a few minutes"),
    ],
)
def test_hub_errors_are_plain_messages(
    fake_hub: FakeHub, status: int, headers: dict[str, str], error: type[Exception], words: str
) -> None:
    fake_hub.status["/api/models"] = (status, headers)
    with pytest.raises(error) as raised:
        hub.list_files("org/Any-GGUF")
    assert words in str(raised.value)
    assert "Traceback" not in str(raised.value)


def test_no_network_is_a_plain_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(HubUnreachable, match="Cannot reach the Hugging Face Hub"):
        hub.search("anything")


def test_real_hub_is_never_the_default_in_tests() -> None:
    assert os.environ["HF_ENDPOINT"].startswith("http://127.0.0.1")
