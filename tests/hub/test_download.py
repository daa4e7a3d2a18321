"""Downloads through the real huggingface_hub client from the local fake Hub: full, cut and
resumed, resumed after a killed process, corrupted, cancelled, out of disk space."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub
import pytest

from desktop.core.errors import (
    ChecksumMismatch,
    DiskFull,
    DownloadCancelled,
    DownloadError,
    HubAccessDenied,
    HubOffline,
)
from desktop.core.hub import download as dl
from desktop.core.models.library import Library
from tests.fakehub import FakeHub, FakeProxy

MB = 1024 * 1024


def blob(size: int, seed: int) -> bytes:
    return (hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1))[:size]


def nothing_left(repo_name: str) -> bool:
    partials = (
        list(dl.partial_dir().glob(f"*{repo_name}*.partial")) if dl.partial_dir().exists() else []
    )
    return not partials and dl.cached_path(f"org/{repo_name}", "m.gguf") is None


def test_full_download_lands_in_the_hf_cache_and_the_library(
    fake_hub: FakeHub, instruct_path: Path, client_path: FakeProxy | None
) -> None:
    fake_hub.add_repo("org/Smol-GGUF", {"SmolLM2-135M-Instruct.Q4_1.gguf": instruct_path})
    progress: list[dl.DownloadProgress] = []
    got = dl.download("org/Smol-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf", progress=progress.append)
    assert got.path.is_file() and got.path.is_symlink()
    assert got.path.read_bytes() == instruct_path.read_bytes()
    assert got.fetched == got.size == instruct_path.stat().st_size
    assert progress[-1].done == progress[-1].total == got.size
    assert "/models--org--Smol-GGUF/snapshots/" in str(got.path)
    listed = {m.path: m for m in Library().models()}
    assert listed[got.path].source == "hf-cache" and listed[got.path].kind == "instruct"
    # Asked again, it is found in the cache and not fetched again.
    again = dl.download("org/Smol-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert again.already_cached and again.fetched == 0
    assert len(fake_hub.file_requests("SmolLM2-135M-Instruct.Q4_1.gguf")) == 1
    if client_path is not None:
        assert any(url.endswith("/SmolLM2-135M-Instruct.Q4_1.gguf") for url in client_path.gets())


@pytest.fixture(params=["direct", "proxy"])
def client_path(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeProxy | None]:
    """Both ways bytes come in: by http.client straight into Duet's buffers, and by httpx
    through the proxy that HTTP_PROXY names (a local forwarding one)."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    if request.param == "direct":
        yield None
        return
    proxy = FakeProxy()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    huggingface_hub.close_session()  # its next session reads HTTP_PROXY: the Hub's HEADs too
    yield proxy
    huggingface_hub.close_session()  # no later test's session points at a closed proxy
    proxy.close()


def test_dropped_connection_resumes_without_fetching_a_byte_twice(
    fake_hub: FakeHub, client_path: FakeProxy | None
) -> None:
    data = blob(3 * MB, 1)
    fake_hub.add_repo("org/Cut-GGUF", {"m.gguf": data})
    fake_hub.cut_after, fake_hub.cuts_left = 1 * MB + 12345, 2  # two drops in a row
    got = dl.download("org/Cut-GGUF", "m.gguf")
    assert got.path.read_bytes() == data
    ranges = [r.range for r in fake_hub.file_requests("m.gguf")]
    cut = 1 * MB + 12345
    assert ranges == ["bytes=0-", f"bytes={cut}-", f"bytes={2 * cut}-"]
    assert fake_hub.bytes_sent["m.gguf"] == len(data)
    if client_path is not None:
        assert sum("/cdn/" in url for url in client_path.gets()) == 3


def test_download_resumes_after_the_process_was_killed(fake_hub: FakeHub, tmp_path: Path) -> None:
    data = blob(6 * MB, 2)
    fake_hub.add_repo("org/Kill-GGUF", {"m.gguf": data})
    fake_hub.delay_per_chunk = 0.01  # about 6 MB/s: time to kill it half way
    env = {**os.environ, "HF_ENDPOINT": fake_hub.url}
    code = "from desktop.core.hub.download import download; download('org/Kill-GGUF', 'm.gguf')"
    child = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    while fake_hub.bytes_sent.get("m.gguf", 0) < 2 * MB and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    partial = next(dl.partial_dir().glob("*Kill-GGUF*.partial"))
    kept = partial.stat().st_size
    assert 0 < kept < len(data)
    fake_hub.delay_per_chunk = 0.0
    got = dl.download("org/Kill-GGUF", "m.gguf")
    assert got.path.read_bytes() == data
    last = fake_hub.file_requests("m.gguf")[-1]
    assert last.range == f"bytes={kept}-"  # it asked only for what it did not have
    assert got.fetched == len(data) - kept


def test_wrong_bytes_are_rejected_and_nothing_is_registered(fake_hub: FakeHub) -> None:
    fake_hub.add_repo("org/Bad-GGUF", {"m.gguf": blob(2 * MB, 3)})
    fake_hub.corrupt.add("m.gguf")
    with pytest.raises(ChecksumMismatch, match="arrived corrupted"):
        dl.download("org/Bad-GGUF", "m.gguf")
    assert nothing_left("Bad-GGUF")


def test_cancel_leaves_nothing(fake_hub: FakeHub) -> None:
    fake_hub.add_repo("org/Cancel-GGUF", {"m.gguf": blob(8 * MB, 4)})
    fake_hub.delay_per_chunk = 0.005
    token = dl.CancelToken()

    def on_progress(p: dl.DownloadProgress) -> None:
        if p.done > MB:
            token.cancel()

    with pytest.raises(DownloadCancelled, match="nothing was kept"):
        dl.download("org/Cancel-GGUF", "m.gguf", progress=on_progress, cancel=token)
    assert nothing_left("Cancel-GGUF")


def test_not_enough_disk_space_is_refused_before_downloading(
    fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.add_repo("org/Full-GGUF", {"m.gguf": blob(2 * MB, 5)})
    monkeypatch.setattr(dl.shutil, "disk_usage", lambda _: type("Usage", (), {"free": 10 * MB})())
    with pytest.raises(DiskFull, match="Not enough disk space"):
        dl.download("org/Full-GGUF", "m.gguf")
    assert fake_hub.file_requests("m.gguf") == []


def test_disk_filling_up_mid_download_is_a_clear_error(
    fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.add_repo("org/Enospc-GGUF", {"m.gguf": blob(3 * MB, 6)})

    class FillsUp(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            if self.tell() > MB:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    monkeypatch.setattr(dl._Transfer, "_open_partial", lambda self: FillsUp())
    with pytest.raises(DiskFull, match="disk filled up"):
        dl.download("org/Enospc-GGUF", "m.gguf")
    assert dl.cached_path("org/Enospc-GGUF", "m.gguf") is None


def test_unsafe_file_names_are_refused_before_any_request(fake_hub: FakeHub) -> None:
    for name in ("../outside.gguf", "/etc/passwd.gguf", "a/../../b.gguf"):
        with pytest.raises(DownloadError, match="outside the model folder"):
            dl.download("org/Any-GGUF", name)
    assert fake_hub.requests == []


def test_offline_download_makes_no_connection(
    fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_hub.add_repo("org/Off-GGUF", {"m.gguf": b"x" * 100})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubOffline):
        dl.download("org/Off-GGUF", "m.gguf")
    assert fake_hub.requests == []


def test_gated_repo_uses_the_token_and_never_writes_it(
    fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch, duet_home: Path
) -> None:
    fake_hub.add_repo("org/Gated-GGUF", {"m.gguf": blob(MB, 7)}, gated=True)
    with pytest.raises(HubAccessDenied, match="gated"):
        dl.download("org/Gated-GGUF", "m.gguf")
    token = "hf_duettesttoken0123456789"
    monkeypatch.setenv("HF_TOKEN", token)
    got = dl.download("org/Gated-GGUF", "m.gguf")
    assert got.path.is_file()
    assert fake_hub.file_requests("m.gguf")[-1].authorization == f"Bearer {token}"
    for path in duet_home.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 10 * MB:
            assert token.encode() not in path.read_bytes(), path
