"""A model file's sha256: from the Hub cache's blob name without hashing, else hashed once and
remembered; a damaged, hostile or oversized checksums.json costs a hash again, nothing else."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from desktop.core.models import checksums
from desktop.core.models.checksums import known_sha256, sha256_of


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DUET_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_a_hub_cache_file_is_named_by_its_blob(tmp_path: Path) -> None:
    sha = "ab" * 32
    blob = tmp_path / "blobs" / sha
    blob.parent.mkdir()
    blob.write_bytes(b"weights")
    link = tmp_path / "snapshots" / "c0ffee" / "model.gguf"
    link.parent.mkdir(parents=True)
    link.symlink_to(blob)
    assert known_sha256(link) == sha  # the Hub's name for it: nothing is read


def test_a_file_is_hashed_once_and_remembered(tmp_path: Path) -> None:
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"x" * 100_000)
    assert known_sha256(model) is None
    assert sha256_of(model) == hashlib.sha256(model.read_bytes()).hexdigest()
    assert known_sha256(model) == sha256_of(model)
    model.write_bytes(b"y" * 100_001)  # changed: the remembered sum no longer applies
    assert known_sha256(model) is None


@pytest.mark.parametrize(
    "content",
    ["{not json", "[1, 2]", json.dumps({"k": "not-a-sha"}), json.dumps({"k": 5})],
)
def test_a_damaged_record_means_hashing_again(tmp_path: Path, content: str) -> None:
    checksums._remembered().parent.mkdir(parents=True, exist_ok=True)
    checksums._remembered().write_text(content, encoding="utf-8")
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"z" * 1000)
    assert known_sha256(model) is None
    assert sha256_of(model) == hashlib.sha256(b"z" * 1000).hexdigest()
    assert known_sha256(model) is not None  # the record was written anew


def test_an_oversized_record_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = checksums._remembered()
    record.parent.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(checksums, "MAX_FILE", 1000)
    record.write_text(json.dumps({f"k{i}": "ab" * 32 for i in range(100)}), encoding="utf-8")
    assert checksums._load() == {}
