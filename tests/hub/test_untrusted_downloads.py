"""A hostile Hub, CDN or proxy against the real download code (issue 11, findings 1-9): the real
huggingface_hub client and Duet's downloader against tests/fakehub.py in its hostile modes.
Every download here runs on a thread with a deadline, so a regression fails instead of hanging.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

from desktop.core import hub
from tests.fakehub import FakeFile, FakeHub
from tests.ggufs import write_gguf

MB = 1024 * 1024


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
