from __future__ import annotations

import pytest

from desktop.core.chat.sampling import PRESETS, SamplingParams
from desktop.core.engine.config import EngineConfig, default_batch_threads, default_threads
from desktop.core.errors import InvalidSettings


def test_presets_are_valid() -> None:
    for preset in PRESETS.values():
        assert preset.validated() is preset
    assert PRESETS["Deterministic"].temperature == 0.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"temperature": 6.0}, "temperature must be between 0 and 5, not 6"),
        ({"top_p": 1.5}, "top-p"),
        ({"top_k": -1}, "top-k"),
        ({"max_tokens": 0}, "max tokens"),
        ({"seed": -5}, "seed"),
    ],
)
def test_out_of_range_is_refused(change: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidSettings, match=message):
        SamplingParams().with_changes(**change)


def test_thread_policy_leaves_a_core_free() -> None:
    assert [default_threads(c) for c in (1, 2, 4, 8, 32)] == [1, 1, 3, 7, 8]
    assert default_batch_threads(2) == 2


def test_engine_config_caps_context_at_training_length() -> None:
    config = EngineConfig(n_ctx=100_000).resolved(train_context=8192)
    assert config.n_ctx == 8192 and config.n_threads >= 1
    with pytest.raises(InvalidSettings, match="context length"):
        EngineConfig(n_ctx=8).resolved()
