"""Where Duet keeps its files.

Every directory Duet writes lives under the platform's usual places, or under one root when
DUET_HOME is set, so that tests and benchmarks never touch a real user's files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "duet"


@dataclass(frozen=True)
class AppDirs:
    data: Path
    config: Path
    cache: Path

    @property
    def models(self) -> Path:
        """Model files Duet owns (assembled starter models, downloads)."""
        return self.data / "models"

    @property
    def registry(self) -> Path:
        """The list of local .gguf files the user registered."""
        return self.config / "registered_models.json"


def app_dirs() -> AppDirs:
    home = os.environ.get("DUET_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return AppDirs(data=root / "data", config=root / "config", cache=root / "cache")
    return AppDirs(
        data=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
    )


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache, honouring HF_HUB_CACHE and HF_HOME like huggingface_hub."""
    if cache := os.environ.get("HF_HUB_CACHE"):
        return Path(cache).expanduser()
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
    )
    return Path(hf_home).expanduser() / "hub"
