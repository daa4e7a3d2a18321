"""Test set-up: every test run gets its own DUET_HOME, Hugging Face home and cache, so no test
reads or writes a real user's files, and no test talks to the real Hub."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Set before any test module imports desktop: paths are read at call time, but the
    # engine's spawned workers inherit the environment of this process.
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="duet-test-home-"))
    os.environ["DUET_HOME"] = str(home)
    os.environ["HF_HOME"] = str(home / "hf-home")  # no real login token is read
    os.environ["HF_HUB_CACHE"] = str(home / "hf-cache")
    # Nothing reaches the real Hub: Hub tests point HF_ENDPOINT at their local fake, and
    # everything else at a closed local port.
    os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"
    os.environ.pop("HF_TOKEN", None)
    os.environ.pop("HF_HUB_OFFLINE", None)
    config._duet_home = home  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    # Each run's home holds a copy of a starter model (about 250 MB): gone with the run.
    import shutil

    home = getattr(config, "_duet_home", None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def duet_home(pytestconfig: pytest.Config) -> Path:
    return Path(pytestconfig._duet_home)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def starter_paths(duet_home: Path) -> tuple[Path, Path]:
    """(Gemma 3 270M base, SmolLM2 135M Instruct): the real starter files."""
    from desktop.core.models.starter import require_starter_paths

    return require_starter_paths()


@pytest.fixture(scope="session")
def base_path(starter_paths: tuple[Path, Path]) -> Path:
    return starter_paths[0]


@pytest.fixture(scope="session")
def instruct_path(starter_paths: tuple[Path, Path]) -> Path:
    return starter_paths[1]


@pytest.fixture(scope="session")
def base_engine(base_path: Path) -> Iterator[object]:
    from desktop.core.engine.config import EngineConfig
    from desktop.core.engine.local.client import EngineClient

    with EngineClient(base_path, EngineConfig(n_ctx=2048)) as engine:
        engine.load()
        yield engine


@pytest.fixture(scope="session")
def instruct_engine(instruct_path: Path) -> Iterator[object]:
    from desktop.core.engine.config import EngineConfig
    from desktop.core.engine.local.client import EngineClient

    with EngineClient(instruct_path, EngineConfig(n_ctx=2048)) as engine:
        engine.load()
        yield engine


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[object]:
    """A fresh local fake Hub (tests/fakehub.py), HF_ENDPOINT pointing at it, an empty HF cache."""
    from tests.fakehub import FakeHub

    fake = FakeHub()
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    yield fake
    fake.close()
