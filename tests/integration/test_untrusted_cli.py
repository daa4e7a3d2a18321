"""The `duet` command line against hostile surroundings, third round: a DUET_HOME that is no
folder, stdin closed or endless, a FIFO or a device where a file was expected, text that is not
UTF-8, a server or a saved title that writes terminal escape sequences, and an answer cut off
by Ctrl+D. Each case is one plain line and an exit code, never a traceback, a hang or a
replaced file."""

from __future__ import annotations

import io
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.core.chat.store import Store
from tests.ggufs import write_gguf
from tests.remote.hostile import Hostile, chat_chunk, memory_keyring, sse

ESCAPES = "\x1b]52;c;ZWNobyBvd25lZA==\x07\x1b]0;owned\x07\x1b[2J\x9b31m"


def _run_limited(
    *args: str, stdin: int | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`duet ARGS` in a process that may use at most 2 GB of address space: reading without a
    bound ends in MemoryError there, not in the machine's swap."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit,
    )


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("duet: "), err
    return lines[-1]


class _Terminal(io.StringIO):
    """What a terminal receives."""

    def isatty(self) -> bool:
        return True


# The environment ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [["chats"], ["export", "1"], ["models"], ["render", "Hi"]], ids=" ".join
)
def test_a_duet_home_that_is_a_file_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    starter_paths: tuple[Path, Path],
    argv: list[str],
) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    monkeypatch.setenv("DUET_HOME", str(home))
    assert main(argv) == 1
    line = _one_line(capsys.readouterr().err)
    assert str(home) in line
    assert home.read_text() == "not a folder"


def test_a_closed_stdout_is_no_traceback(
    monkeypatch: pytest.MonkeyPatch, starter_paths: tuple[Path, Path]
) -> None:
    """`duet render Hi >&-` started with sys.stdout None and raised AttributeError."""
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["render", "Hi"]) == 0


def test_a_full_disk_under_the_output_is_one_line(starter_paths: tuple[Path, Path]) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "desktop", "render", "Hi"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert "No space left on device" in line and "DUET_HOME" not in line


# stdin and input files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv", [["render", "-"], ["generate", "-"], ["compare", "-"]], ids=" ".join
)
def test_a_closed_stdin_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", None)  # what `duet ... <&-` starts with
    assert main(argv) == 1
    assert "stdin" in _one_line(capsys.readouterr().err)


def test_an_endless_stdin_is_refused_at_a_bound(starter_paths: tuple[Path, Path]) -> None:
    with open("/dev/zero", "rb") as zero:
        result = _run_limited("render", "--mode", "raw", "-", stdin=zero.fileno())
    assert result.returncode == 1
    assert "MB" in _one_line(result.stderr)


@pytest.mark.parametrize("device", ["/dev/zero", "fifo"])
def test_a_messages_file_that_is_a_device_or_a_pipe_is_refused(
    tmp_path: Path, starter_paths: tuple[Path, Path], device: str
) -> None:
    """A pipe nobody writes to hung `duet render` for ever; /dev/zero filled its memory."""
    path = device
    if device == "fifo":
        path = str(tmp_path / "messages.json")
        os.mkfifo(path)
    result = _run_limited("render", "--messages", path, "Hi", timeout=30)
    assert result.returncode == 1
    assert "not a regular file" in _one_line(result.stderr)


@pytest.mark.parametrize(
    "argv",
    [
        ["chats", "--search", "caf\udce9"],
        ["generate", "-n", "2", "caf\udce9"],
        ["generate", "-n", "2", "--mode", "chat", "--system", "caf\udce9", "Hi"],
    ],
    ids=["search", "text", "system"],
)
def test_arguments_that_are_not_utf8_are_one_line(
    capsys: pytest.CaptureFixture[str], starter_paths: tuple[Path, Path], argv: list[str]
) -> None:
    """Latin-1 bytes typed in a UTF-8 terminal reach Python as lone surrogates."""
    assert main(argv) == 1
    line = _one_line(capsys.readouterr().err)
    assert "UTF-8" in line and "UnicodeEncodeError" not in line
    assert "\\xe9" in line  # the byte that is wrong, shown


def test_stdin_that_is_not_utf8_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    starter_paths: tuple[Path, Path],
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"caf\xe9"), encoding="utf-8", errors="surrogateescape")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["generate", "-n", "2", "-"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "UTF-8" in line and "UnicodeEncodeError" not in line


# What compare saves ------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--export", "--comparator"])
def test_compare_does_not_replace_a_pipe_with_its_export(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    starter_paths: tuple[Path, Path],
    flag: str,
) -> None:
    """A FIFO (or, for root, a device such as /dev/full) given as the file to save was replaced
    by a regular file, and "Saved" said."""
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    assert main(["compare", "Hi", "-n", "2", flag, str(fifo)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "not a regular file" in line
    assert fifo.is_fifo()


def test_compare_checks_the_export_folder_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], starter_paths: tuple[Path, Path]
) -> None:
    missing = tmp_path / "no such folder" / "out.md"
    assert main(["compare", "Hi", "-n", "2", "--export", str(missing)]) == 1
    captured = capsys.readouterr()
    assert "no such folder" in _one_line(captured.err)
    assert "===" not in captured.out  # refused before any model ran


# Ctrl+C -------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--samples", "2"]], ids=["columns", "samples"])
def test_ctrl_c_stops_a_comparison_at_once(
    starter_paths: tuple[Path, Path], extra: list[str]
) -> None:
    """Ctrl+C raised KeyboardInterrupt, then closing each engine waited for its column to
    write every token asked for: minutes for a long one."""
    argv = ["compare", "Once upon a time", "--mode", "raw", "-n", "4000", "-t", "0.8", *extra]
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        time.sleep(8)  # both models loaded and writing
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl+C in a terminal sends
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "stopped" in _one_line(err)
    assert took < 5, f"{took:.1f} s from Ctrl+C to exit"


# What reaches the terminal -----------------------------------------------------------------


@pytest.fixture
def keys() -> Iterator[object]:
    yield from memory_keyring()  # nothing reaches the machine's real keyring


@pytest.fixture
def hostile_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: object
) -> Iterator[Hostile]:
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))
    server = Hostile(sse(chat_chunk("Hello " + ESCAPES), b"[DONE]"), model="evil\x1b[31m-red")
    yield server
    server.close()


def test_a_servers_escape_sequences_never_reach_the_terminal(
    hostile_server: Hostile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server's model names and replies wrote the clipboard (OSC 52), the window title and
    cleared the screen of the terminal `duet` ran in."""
    out, err = _Terminal(), _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["remote", "add", "lab", hostile_server.url]) == 0
    assert main(["remote", "list"]) == 0
    assert main(["generate", "-m", "remote:lab", "--mode", "chat", "-n", "8", "Hi"]) == 0
    shown = out.getvalue() + err.getvalue()
    assert "Hello" in shown and "evil" in shown
    for char in "\x1b\x07\x9b":
        assert char not in shown
    assert "\\x1b]52;c;" in shown  # shown, not acted on


def test_a_reply_piped_to_a_file_keeps_its_bytes(
    hostile_server: Hostile, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a terminal: the output is data and stays exact."""
    assert main(["remote", "add", "lab", hostile_server.url]) == 0
    capsys.readouterr()
    assert main(["generate", "-m", "remote:lab", "--mode", "chat", "-n", "8", "Hi"]) == 0
    assert capsys.readouterr().out.startswith("Hello " + ESCAPES)


def test_a_saved_chats_title_does_not_drive_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A title comes from an imported export or a first message: anyone's text."""
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))
    store = Store()
    store.create_chat("evil " + ESCAPES)
    store.close()
    out = _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["chats"]) == 0
    assert "evil \\x1b]52;c;" in out.getvalue()
    assert "\x1b" not in out.getvalue()


def test_a_carriage_return_in_a_title_cannot_hide_what_came_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lone carriage return sends the terminal back to the line's start: "notes\rrm -rf ~"
    showed only what came after it. A line ending (\r\n) stays a line ending."""
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))
    store = Store()
    store.create_chat("run ls\rrm -rf ~")
    store.close()
    out = _Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["chats"]) == 0
    assert "run ls\\x0drm -rf ~" in out.getvalue()
    assert "\r" not in out.getvalue().replace("\r\n", "")


def test_the_progress_bar_still_redraws_its_line_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop.cli.output import ProgressBar, TerminalSafe
    from desktop.core.hub.download import DownloadProgress

    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", TerminalSafe(err))
    bar = ProgressBar()
    bar.update(DownloadProgress("m.gguf", 50, 100, 10.0, 0))
    bar.update(DownloadProgress("m.gguf", 100, 100, 10.0, 0))
    assert err.getvalue().count("\r  [") == 2


# Questions ---------------------------------------------------------------------------------


@pytest.fixture
def cached_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))
    cache = tmp_path / "hub"
    snapshot = cache / "models--someone--Tiny-GGUF" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return write_gguf(snapshot / "tiny.gguf")


def test_rm_answered_with_end_of_input_keeps_the_model(
    cached_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl+D at "Delete ...? [y/N]" raised EOFError."""
    monkeypatch.setattr(sys, "stdin", _Terminal(""))
    assert main(["rm", "tiny"]) == 0
    assert "Kept." in capsys.readouterr().out
    assert cached_model.is_file()


def test_rm_with_stdin_closed_asks_for_yes(
    cached_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    assert main(["rm", "tiny"]) == 1
    assert "--yes" in _one_line(capsys.readouterr().err)
    assert cached_model.is_file()
