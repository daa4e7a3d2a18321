"""Compare exports are written atomically: a full disk or a missing folder mid-save leaves the
file that was there whole and gives a plain message (SaveFailed), never half a file or a
traceback; text with no UTF-8 form (a lone surrogate) is kept, not a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.core.compare.export import save, write_comparator_json
from desktop.core.errors import SaveFailed
from tests.core.comparisons import comparison

ROOT = Path(__file__).resolve().parents[2]

_WRITE_UNDER_A_SIZE_LIMIT = """
import resource, signal, sys
from pathlib import Path
from tests.core.comparisons import comparison
from desktop.core.compare.export import save, write_comparator_json
from desktop.core.errors import SaveFailed
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (256, 256))  # a disk that fills after 256 bytes
path = Path(sys.argv[2])
try:
    if sys.argv[1] == "comparator":
        write_comparator_json([comparison()], path)
    else:
        save(comparison(), path)
except SaveFailed as error:
    print("SaveFailed:", error)
"""


@pytest.mark.parametrize("how", ["comparator", "save.json", "save.md"])
def test_a_disk_filling_mid_write_leaves_the_old_file(tmp_path: Path, how: str) -> None:
    path = tmp_path / ("comparison.md" if how == "save.md" else "comparison.json")
    path.write_text("the comparison saved yesterday", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", _WRITE_UNDER_A_SIZE_LIMIT, how.split(".")[0], str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert path.read_text(encoding="utf-8") == "the comparison saved yesterday"
    assert f"SaveFailed: Could not save {path}" in result.stdout
    assert sorted(f.name for f in tmp_path.iterdir()) == [path.name]  # no partial file left


@pytest.mark.parametrize("name", ["comparator.json", "comparison.json", "comparison.md"])
def test_a_missing_folder_is_a_plain_message_not_a_traceback(tmp_path: Path, name: str) -> None:
    path = tmp_path / "no such folder" / name
    with pytest.raises(SaveFailed, match=r"Could not save .*no such folder.*choose another"):
        if name == "comparator.json":
            write_comparator_json([comparison()], path)
        else:
            save(comparison(), path)


def test_save_keeps_a_lone_surrogate_instead_of_failing(tmp_path: Path) -> None:
    # Half of a pasted emoji has no UTF-8 form: it was an UnicodeEncodeError that emptied the file.
    path = tmp_path / "comparison.json"
    path.write_text("the comparison saved yesterday", encoding="utf-8")
    save(comparison("odd \ud800 input"), path)
    assert json.loads(path.read_text(encoding="utf-8"))["input"] == "odd \ud800 input"
    markdown = tmp_path / "comparison.md"
    save(comparison("odd \ud800 input"), markdown)
    assert "odd \\ud800 input" in markdown.read_text(encoding="utf-8")  # shown as its escape
