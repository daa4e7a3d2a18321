"""The guided experiments as data: six of them, each runnable as written, covering the six
differences issue 15 names; and the mode hints that link to the difference page."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from desktop.core.chat.hints import explains_difference
from desktop.core.chat.scaffolds import scaffold_named
from desktop.core.experiments import EXPERIMENTS, Setup, experiment_named, problems
from desktop.core.models.library import Library


def test_every_experiment_is_runnable_as_written() -> None:
    assert problems() == []
    assert 5 <= len(EXPERIMENTS) <= 8


def test_the_six_differences_are_each_shown() -> None:
    by_id = {e.id: e for e in EXPERIMENTS}
    instruction = by_id["instruction"]  # base raw against instruct chat, the same words
    assert instruction.columns == (Setup("base", "raw"), Setup("instruct", "chat"))
    few_shot = by_id["few-shot"]  # the base model in the notebook, with the scaffold's stops
    assert few_shot.main == Setup("base", "raw")
    assert few_shot.input_text == scaffold_named("Few-shot Q/A").text
    template = by_id["template"]  # one instruct model, through its template and raw
    assert template.columns == (Setup("instruct", "chat"), Setup("instruct", "raw"))
    system = by_id["system-prompt"]  # with a system prompt, then the same without
    assert system.main == Setup("instruct", "chat") and system.system
    assert system.again_without_system
    hedge = by_id["hedge"]
    assert {s.role for s in hedge.columns} == {"base", "instruct"}
    shift = by_id["token-shift"]  # the second column (instruct) is scored by the first (base)
    assert shift.shift and [s.role for s in shift.columns] == ["base", "instruct"]


def test_problems_are_found() -> None:
    good = experiment_named("instruction")
    assert problems((good, good)) == ["experiment ids repeat"]
    broken = replace(good, id="x", look_for="One sentence.", main=Setup("base", "raw"))
    found = problems((broken,))
    assert any("not both or none" in p for p in found)
    assert any("two sentences" in p for p in found)
    assert problems((replace(good, id="y", scaffold="Nope", columns=()),))
    assert problems((replace(good, id="z", shift=True, columns=(Setup("base", "raw"),)),))
    with pytest.raises(KeyError):
        experiment_named("no-such-experiment")


def test_the_base_and_instruct_hints_link_to_the_difference_page(
    starter_paths: tuple[Path, Path],
) -> None:
    library = Library()
    base = library.describe(starter_paths[0], "starter")
    instruct = library.describe(starter_paths[1], "starter")
    assert explains_difference(base, "chat")  # "a base model continues text …"
    assert explains_difference(instruct, "raw")  # "an instruct model in raw mode …"
    assert not explains_difference(instruct, "chat")
    assert not explains_difference(base, "raw")
    assert not explains_difference(None, "chat")


def test_each_experiments_first_look_is_the_first_of_its_two_sentences() -> None:
    for experiment in EXPERIMENTS:
        first = experiment.first_look
        assert experiment.look_for.startswith(first) and first.endswith((".", "!", "?"))
        rest = experiment.look_for[len(first) :]
        assert rest.startswith(" ") and rest.strip()  # the second sentence follows
