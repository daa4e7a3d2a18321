"""`duet pull`, `duet search` and `duet rm`, and what they resolve, against the fake Hub."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from desktop.core.errors import DuetError, HubNotFound
from desktop.core.hub.pull import pull, resolve
from desktop.core.models.catalog import load_default_catalog
from desktop.core.models.library import Library
from tests.fakehub import FakeHub
from tests.ggufs import write_gguf
from tests.integration.helpers import duet as cli


def tiny(tmp_path: Path, file: str, **kwargs: object) -> bytes:
    return write_gguf(tmp_path / file, **kwargs).read_bytes()  # type: ignore[arg-type]


@pytest.fixture
def repo(fake_hub: FakeHub, tmp_path: Path) -> FakeHub:
    fake_hub.add_repo(
        "org/Tiny-Instruct-GGUF",
        {
            "tiny-instruct.Q8_0.gguf": tiny(
                tmp_path, "a.gguf", name="Tiny Q8", chat_template="{{ x }}"
            ),
            "tiny-instruct.Q4_K_M.gguf": tiny(
                tmp_path, "b.gguf", name="Tiny Q4", chat_template="{{ x }}"
            ),
            "tiny-instruct.IQ2_XS.gguf": tiny(tmp_path, "c.gguf", name="Tiny IQ2"),
        },
        downloads=42,
        tags=["gguf", "conversational"],
    )
    return fake_hub


def test_resolve_picks_a_sensible_default_and_honours_choices(repo: FakeHub) -> None:
    catalog = load_default_catalog()
    assert resolve("org/Tiny-Instruct-GGUF", catalog).filename == "tiny-instruct.Q4_K_M.gguf"
    assert resolve("org/Tiny-Instruct-GGUF:q8_0", catalog).filename == "tiny-instruct.Q8_0.gguf"
    assert resolve("org/Tiny-Instruct-GGUF:tiny-instruct.IQ2_XS.gguf", catalog).quant == "IQ2_XS"
    with pytest.raises(
        HubNotFound, match=r"no Q5_K_M file\. Its quantizations: IQ2_XS, Q4_K_M, Q8_0"
    ):
        resolve("org/Tiny-Instruct-GGUF:Q5_K_M", catalog)
    with pytest.raises(DuetError, match="neither a catalog id nor a Hub repository"):
        resolve("not a repo", catalog)


def test_catalog_ids_resolve_without_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    target = resolve("llama-3.2-1b-instruct", load_default_catalog())
    assert (target.repo_id, target.filename) == (
        "bartowski/Llama-3.2-1B-Instruct-GGUF",
        "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
    )


def test_split_files_download_together_and_list_once(fake_hub: FakeHub, tmp_path: Path) -> None:
    whole = tiny(tmp_path, "split.gguf", name="Split")
    fake_hub.add_repo(
        "org/Split-GGUF",
        {
            "split-Q4_K_M-00001-of-00002.gguf": whole,
            "split-Q4_K_M-00002-of-00002.gguf": b"\0" * 1000,
        },
    )
    target = resolve("org/Split-GGUF", load_default_catalog())
    assert target.parts == ("split-Q4_K_M-00001-of-00002.gguf", "split-Q4_K_M-00002-of-00002.gguf")
    path, fetched = pull(target)
    assert fetched == len(whole) + 1000
    assert (path.parent / "split-Q4_K_M-00002-of-00002.gguf").is_file()
    listed = [m for m in Library().models() if m.repo_id == "org/Split-GGUF"]
    assert [m.path.name for m in listed] == ["split-Q4_K_M-00001-of-00002.gguf"]
    Library().remove(listed[0])
    assert not list(path.parent.glob("*.gguf"))


def duet(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return cli(*args, stdin=stdin, timeout=120, env=env)


def test_cli_search_pull_models_rm(repo: FakeHub) -> None:
    found = duet("search", "tiny")
    assert found.returncode == 0
    assert (
        "org/Tiny-Instruct-GGUF" in found.stdout
        and "instruct" in found.stdout
        and "42" in found.stdout
    )

    pulled = duet("pull", "org/Tiny-Instruct-GGUF:Q8_0")
    assert pulled.returncode == 0, pulled.stderr
    assert "[##############################] 100%" in pulled.stderr
    assert "sha256 verified" in pulled.stderr and "memory at 4k context: fits" in pulled.stderr

    models = duet("models")
    line = next(row for row in models.stdout.splitlines() if "tiny-instruct.q8_0" in row)
    assert "instruct" in line and "hf-cache" in line

    again = duet("pull", "org/Tiny-Instruct-GGUF:Q8_0")
    assert "already downloaded" in again.stderr

    refused = duet("rm", "tiny-instruct.q8_0", stdin="")
    assert refused.returncode == 1 and "add --yes" in refused.stderr
    removed = duet("rm", "tiny-instruct.q8_0", "--yes")
    assert removed.returncode == 0 and "Deleted tiny-instruct.q8_0" in removed.stdout
    assert "tiny-instruct.q8_0" not in duet("models").stdout


def test_cli_hub_errors_are_one_line(repo: FakeHub) -> None:
    offline = duet("pull", "org/Tiny-Instruct-GGUF", env={"HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 1 and "Offline mode is on" in offline.stderr
    missing = duet("pull", "org/Nope-GGUF")
    assert missing.returncode == 1 and "does not exist, or it is private" in missing.stderr
    for result in (offline, missing):
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_starter_models_cannot_be_deleted(starter_paths: tuple[Path, Path]) -> None:
    result = duet("rm", "gemma-3-270m", "--yes")
    assert result.returncode == 1 and "starter pair" in result.stderr
    assert starter_paths[0].is_file()
