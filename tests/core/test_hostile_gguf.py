"""Hostile GGUF headers: each is refused (or read) with bounded time and memory, in a child
process so a regression fails the test instead of the test run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from desktop.core.errors import ModelLoadError
from desktop.core.models.gguf_info import read_model_info
from tests.ggufs import write_hostile_gguf, write_vocabulary_gguf
from tests.measure import measured_script

ROOT = Path(__file__).resolve().parents[2]

# Parses one file in a fresh interpreter and prints what it cost: the growth of the peak RSS
# over what the imports already took, the seconds spent, and the outcome.
_MEASURE = measured_script(
    """
    import gguf, numpy  # imported before measuring: the reader loads them on first use
    from desktop.core.errors import ModelLoadError
    from desktop.core.models.gguf_info import read_model_info
    """,
    """
    try:
        info = read_model_info(sys.argv[1])
        outcome = "parsed: " + info.architecture
    except ModelLoadError as exc:
        outcome = "ModelLoadError: " + str(exc)
    """,
)


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def measure(path: Path) -> dict[str, object]:
    try:
        done = run_python(_MEASURE, str(path))
    except subprocess.TimeoutExpired:
        pytest.fail(f"parsing {path.name} ran for over a minute")
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(
    "shape", ["many_keys", "many_strings", "many_arrays", "many_tensors", "long_template"]
)
def test_a_hostile_header_is_refused_fast_and_small(tmp_path: Path, shape: str) -> None:
    path = write_hostile_gguf(tmp_path / f"{shape}.gguf", shape)
    try:
        result = measure(path)
    finally:
        path.unlink()
    outcome = str(result["outcome"])
    assert outcome.startswith("ModelLoadError: "), result
    assert str(path) in outcome and "limit" in outcome, result
    assert float(result["seconds"]) < 2, result  # type: ignore[arg-type]
    assert float(result["extra_mb"]) < 200, result  # type: ignore[arg-type]


def test_the_starter_headers_still_parse_fast(base_path: Path, instruct_path: Path) -> None:
    for path in (base_path, instruct_path):
        result = measure(path)
        assert str(result["outcome"]).startswith("parsed: "), result
        assert float(result["seconds"]) < 1, result  # type: ignore[arg-type]
        assert float(result["extra_mb"]) < 50, result  # type: ignore[arg-type]


def test_a_large_real_looking_vocabulary_is_read(tmp_path: Path) -> None:
    info = read_model_info(write_vocabulary_gguf(tmp_path / "vocab.gguf", 600_000))
    assert info.vocab_size == 600_000
    assert (info.bos_token, info.eos_token) == ("0000000001", "0000599999")


def test_metadata_is_a_bounded_summary(tmp_path: Path, instruct_path: Path) -> None:
    info = read_model_info(instruct_path)
    assert info.metadata["general.architecture"] == "llama"
    assert info.metadata["tokenizer.ggml.tokens"].length == 49152  # type: ignore[attr-defined]
    assert all(len(str(v)) <= 300 for v in info.metadata.values())


# A file cut short while it is read: a trace hook truncates it after the reader has run a few
# thousand lines, so the cut lands in the middle of the vocabulary whatever the reader's design.
_TRUNCATE_WHILE_READING = textwrap.dedent(
    """
    import os, sys
    from desktop.core.models import gguf_info
    from desktop.core.errors import ModelLoadError

    path, lines = sys.argv[1], 0

    def local(frame, event, arg):
        global lines
        lines += 1
        if lines == 3000:
            os.truncate(path, 4096)
        return local if lines < 3000 else None

    def tracer(frame, event, arg):
        return local if lines < 3000 and frame.f_code.co_filename == gguf_info.__file__ else None

    sys.settrace(tracer)
    try:
        gguf_info.read_model_info(path)
        print("parsed")
    except ModelLoadError as exc:
        print("ModelLoadError:", exc)
    """
)


def test_a_file_truncated_while_it_is_read_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = write_vocabulary_gguf(tmp_path / "cut.gguf", 600_000)
    done = run_python(_TRUNCATE_WHILE_READING, str(path), timeout=120)
    assert done.returncode == 0, f"exit {done.returncode} (a signal if negative): {done.stderr}"
    assert done.stdout.startswith("ModelLoadError:") and "is truncated" in done.stdout, done.stdout
    assert path.stat().st_size == 4096


def test_a_damaged_file_is_still_a_model_load_error_in_process(tmp_path: Path) -> None:
    path = tmp_path / "small.gguf"
    path.write_bytes(write_vocabulary_gguf(tmp_path / "v.gguf", 1000).read_bytes()[:5000])
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match="is truncated"):
        read_model_info(path)
    assert time.perf_counter() - start < 1


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    from tests.ggufs import header, kv_string

    path = tmp_path / "twice.gguf"
    body = header(0, 2) + kv_string("general.name", b"a") + kv_string("general.name", b"b")
    path.write_bytes(body + b"\0" * (-len(body) % 32))
    with pytest.raises(ModelLoadError, match=r"general\.name twice"):
        read_model_info(path)


def _write_long_strings_gguf(path: Path, kept_too: bool) -> Path:
    """Just under every cap: 120 architecture keys ("a7.context_length") and, with `kept_too`,
    every key Duet keeps, each a string of 1 MiB less a byte of invalid UTF-8 (which decodes to
    twice its size), in a header just under 128 MiB."""
    from desktop.core.models import gguf_info
    from tests.ggufs import header, kv_string, one_tensor

    text = b"\xff" * (gguf_info.MAX_KEPT_STRING - 1)
    keys = [f"a{i}.context_length" for i in range(120)]
    if kept_too:
        keys += sorted(gguf_info._KEPT)[:6]  # within the header's byte cap
    with path.open("wb") as out:
        out.write(header(1, len(keys)))
        written = len(header(1, len(keys)))
        for key in keys:
            entry = kv_string(key, text)
            out.write(entry)
            written += len(entry)
        out.write(one_tensor(written))
    return path


@pytest.mark.parametrize("kept_too", [False, True], ids=["arch_strings", "kept_strings"])
def test_long_strings_just_under_every_cap_cost_little(tmp_path: Path, kept_too: bool) -> None:
    path = _write_long_strings_gguf(tmp_path / "long.gguf", kept_too)
    try:
        result = measure(path)
    finally:
        path.unlink()
    outcome = str(result["outcome"])
    if kept_too:  # the texts Duet keeps are over their total
        assert outcome.startswith("ModelLoadError: ") and "limit" in outcome, result
    else:  # long architecture values are skipped, not kept
        assert outcome.startswith("parsed: "), result
    assert float(result["seconds"]) < 2, result  # type: ignore[arg-type]
    assert float(result["extra_mb"]) < 200, result  # type: ignore[arg-type]
