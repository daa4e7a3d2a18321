"""The starter model assembled where Duet cannot write (the models folder is a file): a
StarterUnavailable that says where, as the window and the CLI show it, not an OSError."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.errors import StarterUnavailable
from desktop.core.models.starter import starter_files


def test_a_models_folder_that_is_a_file_is_a_plain_starter_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUET_HOME", str(tmp_path))
    monkeypatch.delenv("DUET_STARTER_DIR", raising=False)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "models").write_text("not a folder")
    with pytest.raises(StarterUnavailable, match=r"Could not assemble .*models"):
        starter_files()
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["models"]
