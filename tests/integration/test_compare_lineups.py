"""`duet compare` with catalog line-ups and more columns: PAIR+examples aligns the base model
by examples beside its instruct sibling, a ladder not yet installed says what to pull, four
models run, and --one-at-a-time runs them in turn and says so."""

from __future__ import annotations

import pytest

from tests.integration.helpers import duet

BASE, INSTRUCT = "gemma-3-270m", "smollm2-135m-instruct"


def test_the_starter_pair_with_examples_aligns_the_base_model_and_stops_on_its_stop(
    starter_paths: object,
) -> None:
    result = duet(
        "compare", "--models", "starter+examples", "-n", "200", "Name three primary colours."
    )
    assert result.returncode == 0, result.stderr
    base, _, instruct = result.stdout.partition(f"=== {INSTRUCT} (instruct, chat) ===")
    assert base.startswith(f"=== {BASE} (base, chat, aligned by examples) ===")
    # The base model answers once and stops on the prompt's own stop string, not Max tokens.
    assert "[stopped: a stop string appeared" in base, base
    assert "# Query:" not in base
    assert instruct.strip()


def test_examples_as_a_mode_and_four_models_one_at_a_time(starter_paths: object) -> None:
    models = ",".join([BASE, INSTRUCT, BASE, INSTRUCT])
    result = duet(
        "compare", "--models", models, "--mode", "examples", "--one-at-a-time", "-n", "6", "Hi"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(f"=== {BASE} (base, chat, aligned by examples) ===") == 2
    # An instruct model keeps its own template: "examples" applies to base models only.
    assert result.stdout.count(f"=== {INSTRUCT} (instruct, chat) ===") == 2
    assert result.stdout.count("[stopped: ") == 4
    assert "One column at a time, as chosen" in result.stderr


def test_line_ups_that_cannot_run_say_why(starter_paths: object) -> None:
    ladder = duet("compare", "--models", "olmo-2-7b-ladder", "Hi", timeout=60)
    assert ladder.returncode == 1
    assert "Not installed:" in ladder.stderr and "duet pull olmo-2-7b-ladder" in ladder.stderr
    five = duet("compare", "--models", ",".join([BASE] * 5), "Hi", timeout=60)
    assert five.returncode == 1 and "2 to 4 models" in five.stderr
    assert "Traceback" not in ladder.stderr + five.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--models", ",,,"), "names no model"),
        (("--models", "starter+examples", "--mode", "raw"), "give it --mode chat"),
        (("--one-at-a-time", "--samples", "2"), "drop --one-at-a-time"),
    ],
)
def test_contradictory_line_up_options_are_refused_in_words(
    starter_paths: object, args: tuple[str, ...], message: str
) -> None:
    result = duet("compare", *args, "Hi", timeout=60)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
