"""`duet pull PAIR-ID` and `duet pull LADDER-ID`: every model of the pair or ladder, one after
the other, from the real huggingface_hub client against the fake Hub, after one sentence on
whether they fit in memory at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.cli import main
from desktop.core.hub import pull as hub_pull
from desktop.core.models.catalog import Catalog, parse_catalog
from desktop.core.models.library import Library
from tests.fakehub import FakeHub
from tests.ggufs import write_gguf

STAGES = ("base", "sft", "instruct")


def _entry(stage: int, name: str, size: int, **extra: str) -> str:
    keys = "".join(f'{key} = "{value}"\n' for key, value in extra.items())
    return f'''
[[model]]
id = "t-{name}"
kind = "{"base" if name == "base" else "instruct"}"
ladder = "t-ladder"
stage = {stage}
stage_name = "{name.upper()}"
repo_id = "org/T-{name}-GGUF"
filename = "t-{name}.Q8_0.gguf"
quant = "Q8_0"
size = {size}
license = "mit"
gated = false
{keys}'''


@pytest.fixture
def ladder(
    fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[FakeHub, Catalog]:
    """A three-stage ladder whose two ends are also a pair, on the fake Hub and in the catalog
    Duet reads."""
    text = ""
    for stage, name in enumerate(STAGES, start=1):
        data = write_gguf(tmp_path / f"{name}.gguf", name=f"T {name}").read_bytes()
        fake_hub.add_repo(f"org/T-{name}-GGUF", {f"t-{name}.Q8_0.gguf": data})
        pair = {"pair": "t-pair"} if name in ("base", "instruct") else {}
        text += _entry(stage, name, len(data), **pair)
    catalog = parse_catalog(text, Path("models.toml"))
    monkeypatch.setattr("desktop.core.models.library.load_default_catalog", lambda: catalog)
    return fake_hub, catalog


def test_pulling_a_ladder_downloads_every_stage_in_order(
    ladder: tuple[FakeHub, Catalog], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pull", "t-ladder"]) == 0
    err = capsys.readouterr().err
    assert "t-ladder: 3 models" in err
    assert "All 3 fit in memory at once at 4,096 tokens of context" in err
    positions = [err.index(f"[{i}/3] t-{name}") for i, name in enumerate(STAGES, start=1)]
    assert positions == sorted(positions)
    assert err.count("sha256 verified") == 3 and "Traceback" not in err
    installed = {m.id for m in Library().models()}
    assert {"t-base", "t-sft", "t-instruct"} <= installed

    assert main(["pull", "t-pair"]) == 0  # both ends are here already
    again = capsys.readouterr().err
    assert again.count("already downloaded") == 2 and "t-sft" not in again


def test_a_missing_stage_stops_the_ladder_with_one_plain_line(
    ladder: tuple[FakeHub, Catalog], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_hub, _ = ladder
    del fake_hub.repos["org/T-sft-GGUF"]
    assert main(["pull", "t-ladder"]) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("duet: t-sft (2 of 3): Not found")
    assert "1 of 3 downloaded" in last and "run the same command again" in last
    assert "Traceback" not in err


def test_ctrl_c_stops_the_ladder_and_says_how_to_go_on(
    ladder: tuple[FakeHub, Catalog],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_pull = hub_pull.pull
    calls: list[str] = []

    def pull_then_stop(target, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(target.filename)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_pull(target, **kwargs)

    monkeypatch.setattr(hub_pull, "pull", pull_then_stop)
    assert main(["pull", "t-ladder"]) == 130
    err = capsys.readouterr().err
    assert "stopped at t-sft (2 of 3)" in err and "continue where it stopped" in err
    assert calls == ["t-base.Q8_0.gguf", "t-sft.Q8_0.gguf"]


def test_a_model_id_still_pulls_one_model(
    ladder: tuple[FakeHub, Catalog], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pull", "t-sft"]) == 0
    err = capsys.readouterr().err
    assert "org/T-sft-GGUF · t-sft.Q8_0.gguf" in err and "[1/" not in err
