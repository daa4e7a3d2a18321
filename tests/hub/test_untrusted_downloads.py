"""A hostile Hub, CDN or proxy against the real download code (issue 11, findings 1-9): the real
huggingface_hub client and Duet's downloader against tests/fakehub.py in its hostile modes.
Every download here runs on a thread with a deadline, so a regression fails instead of hanging.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import huggingface_hub
import pytest
from huggingface_hub.file_download import repo_folder_name

from desktop.core.errors import (
    DownloadCancelled,
    DownloadError,
    DownloadPaused,
)
from desktop.core.hub import api as hub
from desktop.core.hub import download as dl
from tests.fakehub import FakeFile, FakeHub, FakeProxy, tls_pair
from tests.ggufs import write_gguf
from tests.hub.test_pull import duet

MB = 1024 * 1024
TOKEN = "hf_duettesttoken0123456789"
T = TypeVar("T")


def blob(size: int, seed: int) -> bytes:
    return (hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1))[:size]


def bounded(
    work: Callable[[], T], token: dl.CancelToken, limit: float = 10.0
) -> tuple[T | BaseException, float]:
    """Run `work` on a thread: (its result or exception, seconds taken). Past `limit` the test
    fails, after cancelling the download so that it ends."""
    box: list[T | BaseException] = []

    def run() -> None:
        try:
            box.append(work())
        except BaseException as exc:
            box.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(limit)
    elapsed = time.monotonic() - started
    if thread.is_alive():
        token.cancel()
        thread.join(60)
        pytest.fail(f"the download was still running after {limit:.0f} s")
    return box[0], elapsed


def partial_of(repo_id: str, data: bytes) -> Path:
    name = repo_folder_name(repo_id=repo_id, repo_type="model")
    return dl.partial_dir() / f"{name}--{hashlib.sha256(data).hexdigest()}.partial"


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same number of retries, without the seconds of backoff between them."""
    monkeypatch.setattr(dl, "_RETRY_DELAYS", (0.01,) * len(dl._RETRY_DELAYS))


@pytest.fixture
def second_hub() -> Iterator[FakeHub]:
    other = FakeHub()
    yield other
    other.close()


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


# 2 -----------------------------------------------------------------------------------------------


def test_the_token_goes_only_to_the_hubs_exact_origin(
    fake_hub: FakeHub, second_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    data = blob(2 * MB, 12)
    fake_hub.add_repo("org/Cdn-GGUF", {"m.gguf": data})
    second_hub.add_repo("org/Cdn-GGUF", {"m.gguf": data})
    port = second_hub.server.server_address[1]
    for other in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        # The Hub's own download URL redirects to the same host on another port, or to
        # another name for it: the file comes, the token stays behind.
        fake_hub.cdn_redirect = other
        fake_hub.requests.clear()
        second_hub.requests.clear()
        got = dl.download("org/Cdn-GGUF", "m.gguf")
        assert got.path.read_bytes() == data
        assert [r.authorization for r in fake_hub.cdn_requests()] == [f"Bearer {TOKEN}"]
        assert second_hub.cdn_requests() and all(
            r.authorization is None for r in second_hub.requests
        )
        got.path.unlink()


@pytest.fixture
def tls_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A fake Hub over https, trusted through SSL_CERT_FILE by huggingface_hub and Duet alike."""
    context, cert = tls_pair(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    huggingface_hub.close_session()  # the next session reads SSL_CERT_FILE
    fake = FakeHub(tls=context)
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    yield fake
    fake.close()
    huggingface_hub.close_session()


def test_an_https_hub_never_leads_to_plain_http(
    tls_hub: FakeHub, second_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    data = blob(MB, 13)
    tls_hub.add_repo("org/Tls-GGUF", {"m.gguf": data})
    second_hub.add_repo("org/Tls-GGUF", {"m.gguf": data})
    got = dl.download("org/Tls-GGUF", "m.gguf")  # over https, with the token: fine
    assert got.path.read_bytes() == data
    assert tls_hub.cdn_requests()[-1].authorization == f"Bearer {TOKEN}"
    got.path.unlink()

    tls_hub.cdn_redirect = second_hub.url  # https://127.0.0.1:P/cdn/... -> http://127.0.0.1:Q/...
    with pytest.raises(DownloadError, match="from https to plain http"):
        dl.download("org/Tls-GGUF", "m.gguf")
    tls_hub.cdn_redirect = None
    tls_hub.cdn_origin = second_hub.url  # /resolve itself sends the download to plain http
    with pytest.raises(DownloadError, match="from https to plain http"):
        dl.download("org/Tls-GGUF", "m.gguf")
    assert second_hub.requests == []  # not one request went out in clear text


# 3 -----------------------------------------------------------------------------------------------


def _always_416(fake: FakeHub) -> None:
    fake.cdn_status = (416, {"Content-Range": "bytes */1"})


def _redirect_without_location(fake: FakeHub) -> None:
    fake.cdn_status = (302, {})


def _empty_answers(fake: FakeHub) -> None:
    fake.cdn_status, fake.forced_body = (200, {}), b""


def _server_errors(fake: FakeHub) -> None:
    fake.cdn_status = (503, {})


def _range_ignored_and_cut(fake: FakeHub) -> None:
    fake.ignore_range, fake.cut_after, fake.cuts_left = True, 100_000, 10_000


def _drips(fake: FakeHub) -> None:
    fake.cut_after, fake.cuts_left = 1000, 10_000


@pytest.mark.parametrize(
    "hostile",
    [
        _always_416,
        _redirect_without_location,
        _empty_answers,
        _server_errors,
        _range_ignored_and_cut,
        _drips,
    ],
)
def test_a_hostile_server_gets_a_few_requests_then_a_download_error(
    fake_hub: FakeHub, quick_retries: None, hostile: Callable[[FakeHub], None]
) -> None:
    fake_hub.add_repo("org/Loop-GGUF", {"m.gguf": blob(2 * MB, 14)})
    hostile(fake_hub)
    token = dl.CancelToken()
    outcome, _ = bounded(lambda: dl.download("org/Loop-GGUF", "m.gguf", cancel=token), token, 10)
    assert isinstance(outcome, DownloadError), outcome
    assert "kept failing" in str(outcome) and "run the same download again" in str(outcome)
    assert len(fake_hub.cdn_requests()) <= len(dl._RETRY_DELAYS) + 1
    assert dl.cached_path("org/Loop-GGUF", "m.gguf") is None


def test_retries_back_off_and_cancel_cuts_the_wait_short(fake_hub: FakeHub) -> None:
    fake_hub.add_repo("org/Slow-GGUF", {"m.gguf": blob(MB, 15)})
    _always_416(fake_hub)
    token = dl.CancelToken()
    threading.Timer(1.6, token.cancel).start()  # during the third wait (0.5 + 1 + 2 s)
    outcome, elapsed = bounded(
        lambda: dl.download("org/Slow-GGUF", "m.gguf", cancel=token), token, 10
    )
    assert isinstance(outcome, DownloadCancelled), outcome
    assert elapsed < 1.6 + 1.0
    assert len(fake_hub.cdn_requests()) == 3


# 4 -----------------------------------------------------------------------------------------------


def test_a_206_for_the_wrong_range_is_not_written_and_the_partial_is_kept(
    fake_hub: FakeHub, quick_retries: None
) -> None:
    data = blob(3 * MB, 16)
    fake_hub.add_repo("org/Range-GGUF", {"m.gguf": data})
    kept = MB + 777
    partial = partial_of("org/Range-GGUF", data)
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(data[:kept])  # left by an earlier run
    fake_hub.range_from_zero = 1  # the next ranged answer is 206 "bytes 0-..." instead
    got = dl.download("org/Range-GGUF", "m.gguf")
    assert got.path.read_bytes() == data
    assert got.fetched == len(data) - kept  # nothing thrown away, nothing written twice
    assert [r.range for r in fake_hub.cdn_requests()] == [f"bytes={kept}-"] * 2


def test_a_file_without_a_published_sha256_needs_explicit_consent(fake_hub: FakeHub) -> None:
    data = blob(MB, 17)
    fake_hub.add_repo("org/Git-GGUF", {"m.gguf": data})
    fake_hub.no_sha256 = True
    with pytest.raises(DownloadError, match=r"no sha256.*--allow-unverified"):
        dl.download("org/Git-GGUF", "m.gguf")
    assert fake_hub.cdn_requests() == [] and dl.cached_path("org/Git-GGUF", "m.gguf") is None

    got = dl.download("org/Git-GGUF", "m.gguf", allow_unverified=True)
    assert got.path.read_bytes() == data
    assert got.sha256 is None  # nothing claims it was checked


def test_duet_pull_says_how_to_accept_an_unverified_file(fake_hub: FakeHub, tmp_path: Path) -> None:
    fake_hub.add_repo(
        "org/Git-GGUF", {"m.Q4_K_M.gguf": write_gguf(tmp_path / "m.gguf").read_bytes()}
    )
    fake_hub.no_sha256 = True
    refused = duet("pull", "org/Git-GGUF:m.Q4_K_M.gguf")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "--allow-unverified" in refused.stderr.strip().splitlines()[-1]
    accepted = duet("pull", "org/Git-GGUF:m.Q4_K_M.gguf", "--allow-unverified")
    assert accepted.returncode == 0, accepted.stderr
    assert "sha256 verified where the Hub publishes one" in accepted.stderr


# 5 -----------------------------------------------------------------------------------------------


def test_only_a_200_or_206_body_is_written(fake_hub: FakeHub, quick_retries: None) -> None:
    data = blob(2 * MB, 18)
    fake_hub.add_repo("org/Moved-GGUF", {"m.gguf": data})
    fake_hub.cdn_status = (302, {"Content-Type": "text/html"})
    fake_hub.forced_body, fake_hub.forced_left = b"<html>moved, no Location</html>", 2
    got = dl.download("org/Moved-GGUF", "m.gguf")
    assert got.path.read_bytes() == data
    assert [r.range for r in fake_hub.cdn_requests()] == ["bytes=0-"] * 3


# 6 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("malformed", ["status", "lots", "-5", "99999999999999999999999"])
def test_a_malformed_answer_is_a_download_error(
    fake_hub: FakeHub, quick_retries: None, malformed: str
) -> None:
    fake_hub.add_repo("org/Broken-GGUF", {"m.gguf": blob(MB, 19)})
    fake_hub.malformed = malformed
    token = dl.CancelToken()
    outcome, _ = bounded(lambda: dl.download("org/Broken-GGUF", "m.gguf", cancel=token), token)
    assert isinstance(outcome, DownloadError), repr(outcome)
    assert "kept failing" in str(outcome)
    assert dl.cached_path("org/Broken-GGUF", "m.gguf") is None


# 7 -----------------------------------------------------------------------------------------------


def _silent_listener() -> Iterator[str]:
    """A port that accepts connections (the kernel does) and never says a word."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as server:
        yield f"https://127.0.0.1:{server.getsockname()[1]}"


@pytest.fixture
def silent_origin() -> Iterator[str]:
    yield from _silent_listener()


@pytest.mark.parametrize(
    ("stage", "stop"),
    [
        ("metadata", "cancel"),  # the Hub's HEAD is never answered
        ("tls", "cancel"),  # the CDN accepts and never answers the TLS handshake
        ("headers", "cancel"),  # the CDN reads the request and never answers
        ("headers", "pause"),
        ("body", "cancel"),  # the body stops half way and the connection stays open
        ("body", "pause"),
    ],
)
def test_cancel_and_pause_take_effect_within_a_second(
    fake_hub: FakeHub, silent_origin: str, stage: str, stop: str
) -> None:
    data = blob(4 * MB, 20)
    fake_hub.add_repo("org/Hang-GGUF", {"m.gguf": data})
    if stage == "metadata":
        fake_hub.hang.add("HEAD /org/Hang-GGUF/resolve/")
    elif stage == "tls":
        fake_hub.cdn_origin = silent_origin
    elif stage == "headers":
        fake_hub.hang.add("GET /cdn/")
    else:
        fake_hub.stall_after = MB + 5
    token = dl.CancelToken()
    asked: list[float] = []

    def stop_soon() -> None:
        asked.append(time.monotonic())
        token.cancel() if stop == "cancel" else token.pause()

    threading.Timer(0.5, stop_soon).start()
    outcome, _ = bounded(lambda: dl.download("org/Hang-GGUF", "m.gguf", cancel=token), token, 10)
    took = time.monotonic() - asked[0]
    assert isinstance(outcome, DownloadPaused if stop == "pause" else DownloadCancelled), outcome
    assert took < 1.0, f"{stop} took {took:.1f} s"
    partial = partial_of("org/Hang-GGUF", data)
    if stop == "cancel":
        assert not partial.exists()
    elif stage == "body":
        kept = partial.read_bytes()
        assert len(kept) == MB + 5, len(kept)
        assert kept == data[: MB + 5]  # every byte received is kept


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


# 9 -----------------------------------------------------------------------------------------------


@pytest.fixture
def proxy() -> Iterator[FakeProxy]:
    forwarding = FakeProxy()
    yield forwarding
    forwarding.close()


def test_a_proxy_from_the_os_settings_is_used(
    fake_hub: FakeHub, proxy: FakeProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    # What urllib.request.getproxies() returns on macOS or Windows with a system proxy set.
    monkeypatch.setattr("urllib.request.getproxies", lambda: {"http": proxy.url})
    data = blob(3 * MB, 21)
    fake_hub.add_repo("org/Proxy-GGUF", {"m.gguf": data})
    got = dl.download("org/Proxy-GGUF", "m.gguf")
    assert got.path.read_bytes() == data
    assert proxy.gets() == [f"{fake_hub.url}/cdn/org/Proxy-GGUF/m.gguf"]


def test_a_proxy_duet_cannot_use_is_a_plain_message(
    fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("urllib.request.getproxies", lambda: {"http": "socks5://127.0.0.1:1"})
    fake_hub.add_repo("org/Socks-GGUF", {"m.gguf": blob(MB, 22)})
    with pytest.raises(DownloadError, match=r"proxy set on this computer .* cannot be used"):
        dl.download("org/Socks-GGUF", "m.gguf")
    assert fake_hub.cdn_requests() == []
