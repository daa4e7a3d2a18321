"""A hostile Hub, CDN or proxy against the real download code (issue 11, findings 1-9): the real
huggingface_hub client and Duet's downloader against tests/fakehub.py in its hostile modes.
Every download here runs on a thread with a deadline, so a regression fails instead of hanging.
"""

from __future__ import annotations

import hashlib
import time
import tracemalloc
from pathlib import Path

import pytest
from huggingface_hub.file_download import repo_folder_name

from desktop.core import download as dl
from desktop.core import hub
from desktop.core.errors import DownloadError
from tests.fakehub import FakeFile, FakeHub
from tests.ggufs import write_gguf

MB = 1024 * 1024


def blob(size: int, seed: int) -> bytes:
    return (hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1))[:size]


# 1 -----------------------------------------------------------------------------------------------


def test_a_commit_id_that_is_a_path_touches_nothing_outside_the_cache(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "a" / "b" / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    evil = "../../../../tmp/x"
    fake_hub.add_repo("org/Evil-GGUF", {"m.gguf": blob(MB, 11)}, commit=evil)
    repo_dir = cache / repo_folder_name(repo_id="org/Evil-GGUF", repo_type="model")
    escape = tmp_path / "a" / "tmp" / "x"  # where snapshots/<evil>/ points
    assert (repo_dir / "snapshots" / evil).resolve() == escape.resolve()
    escape.mkdir(parents=True)
    canary = escape / "m.gguf"
    canary.write_bytes(b"someone else's file")

    with pytest.raises(DownloadError, match="not a commit id"):
        dl.download("org/Evil-GGUF", "m.gguf")
    assert canary.read_bytes() == b"someone else's file" and not canary.is_symlink()
    assert sorted(p.name for p in escape.iterdir()) == ["m.gguf"]
    assert not (repo_dir / "refs").exists()
    assert fake_hub.cdn_requests() == []  # refused before a byte was fetched

    # A ref damaged by someone else is not followed out of the cache either.
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(evil)
    assert dl.cached_path("org/Evil-GGUF", "m.gguf") is None


# 8 -----------------------------------------------------------------------------------------------
def test_the_header_peek_reads_a_bounded_number_of_bytes(fake_hub: FakeHub, tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "huge.gguf", name="Huge")
    with path.open("r+b") as handle:
        handle.truncate(400 * MB)  # sparse: 400 MB to send, almost nothing on disk
    repo = fake_hub.add_repo("org/Huge-GGUF", {})
    repo.files["huge.gguf"] = FakeFile("huge.gguf", path=path, sha256="ab" * 32)
    fake_hub.ignore_range = True  # and sends the whole file
    file = hub.HubFile("org/Huge-GGUF", "huge.gguf", ("huge.gguf",), 400 * MB, None, "F32")

    tracemalloc.start()
    started = time.monotonic()
    try:
        kv = hub.remote_kv_per_token(file)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kv is not None and kv > 0  # the header was read from the first bytes
    assert peak < 16 * MB, f"{peak / MB:.0f} MB held"
    assert time.monotonic() - started < 5
    time.sleep(0.2)
    assert fake_hub.bytes_sent.get("huge.gguf", 0) < 100 * MB  # the connection was dropped
