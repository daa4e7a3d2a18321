"""Files Duet replaces as a whole (the server list, the downloads to continue, the example
exchanges, exports): two Duet processes saving at once, and a target that is a pipe or a device.
Real processes, bounded in count and time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from desktop.core.atomic_file import write_atomically
from desktop.core.compare.export import save
from desktop.core.engine.servers import servers
from desktop.core.errors import SaveFailed
from desktop.core.hub.pending import load_pending
from tests.core.comparisons import comparison

ADD_SERVERS = """
import sys
from desktop.core.engine.servers import add_server
for n in range(15):
    add_server(f"{sys.argv[1]}{n}", f"http://127.0.0.1:{9000 + n}")
"""

SAVE_PENDING = """
import sys, time
from desktop.core.hub.pending import PullTarget, save_pending
until = float(sys.argv[1])
target = PullTarget("org/Model-GGUF", ("model.Q4_K_M.gguf",), 123, "Q4_K_M")
while time.time() < until:
    save_pending([target] * 200)
"""

FIRST_PREAMBLE = """
import sys, time
from desktop.core.chat.aligned import ensure_preamble_file, preamble_path
until = float(sys.argv[1])
while time.time() < until:
    preamble_path().unlink(missing_ok=True)
    ensure_preamble_file()
"""


def _run_together(code: str, args: list[list[str]], home: Path) -> list[str]:
    env = {**os.environ, "DUET_HOME": str(home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, *a], stderr=subprocess.PIPE, text=True, env=env
        )
        for a in args
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), errors
    return errors


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".partial"))]


def test_two_processes_adding_servers_keep_every_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both wrote through one remotes.tmp, and each saved the list it had read: a `duet remote
    add` failed with "Cannot write the server list", and servers the other had added were lost."""
    _run_together(ADD_SERVERS, [["a"], ["b"]], tmp_path)
    monkeypatch.setenv("DUET_HOME", str(tmp_path))
    names = sorted(s.name for s in servers())
    assert names == sorted([f"a{n}" for n in range(15)] + [f"b{n}" for n in range(15)])
    assert _leftovers(tmp_path / "config") == []


def test_two_windows_saving_their_downloads_at_once_both_succeed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both wrote through one pending.tmp: a window closing while another saved failed with
    FileNotFoundError."""
    until = str(time.time() + 2)
    _run_together(SAVE_PENDING, [[until], [until]], tmp_path)
    monkeypatch.setenv("DUET_HOME", str(tmp_path))
    assert len(load_pending()) == 200
    assert all(_leftovers(p.parent) == [] for p in tmp_path.rglob("pending.json"))


def test_two_first_starts_writing_the_example_exchanges_both_succeed(tmp_path: Path) -> None:
    """Both copied the default through one preamble .tmp: one start failed with
    FileNotFoundError."""
    until = str(time.time() + 2)
    _run_together(FIRST_PREAMBLE, [[until], [until]], tmp_path)


def _fifo(tmp_path: Path) -> Path:
    fifo = tmp_path / "comparison.md"
    os.mkfifo(fifo)
    return fifo


def test_a_comparison_saved_over_a_pipe_is_refused_and_the_pipe_kept(tmp_path: Path) -> None:
    """The window's Save comparison renamed its file over the pipe: the pipe was gone, and the
    program reading it waited forever."""
    fifo = _fifo(tmp_path)
    with pytest.raises(SaveFailed, match="pipe or a device"):
        save(comparison(), fifo)
    assert fifo.is_fifo()
    assert _leftovers(tmp_path) == []


def test_a_folder_is_not_replaced_either(tmp_path: Path) -> None:
    folder = tmp_path / "notes.md"
    folder.mkdir()
    with pytest.raises(SaveFailed, match="a folder"):
        save(comparison(), folder)
    assert folder.is_dir()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"old": true}')
    (tmp_path / "blocker").mkdir()
    with pytest.raises(OSError):
        write_atomically(tmp_path / "blocker" / "missing" / "x.json", "{}")
    # A full disk, by the file size limit of a child process: the write fails half way.
    code = (
        "import resource, sys; from pathlib import Path;"
        "from desktop.core.atomic_file import write_atomically;"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000));"
        "import signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "write_atomically(Path(sys.argv[1]), 'x' * 100_000)"
    )
    child = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert child.returncode != 0 and "File too large" in child.stderr
    assert json.loads(path.read_text()) == {"old": True}
    assert _leftovers(tmp_path) == []


def test_two_threads_replacing_one_file_never_show_half_of_it(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    whole = [json.dumps(["x" * 50_000] * 20), json.dumps(["y" * 70_000] * 20)]
    stop = time.time() + 1
    failures: list[BaseException] = []

    def writer(text: str) -> None:
        try:
            while time.time() < stop:
                write_atomically(path, text)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in whole]
    for t in threads:
        t.start()
    seen = set()
    while any(t.is_alive() for t in threads):
        if path.exists():
            seen.add(path.read_text())
    for t in threads:
        t.join()
    assert failures == []
    assert seen <= set(whole)
