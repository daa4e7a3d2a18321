"""Guided experiments: short set-ups that each show one difference between a base and an
instruct model, as frozen data the window applies (desktop.ui.experiments) and tests check.

Each experiment names the roles it needs ("base", "instruct"), not model ids: the window fills
them with the pair it has (the starter pair on a fresh install), so the same experiment works
on any installed base/instruct pair."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from desktop.core.chat.prompts import MODES, Mode
from desktop.core.chat.scaffolds import SCAFFOLDS, scaffold_named
from desktop.core.compare.lineups import MAX_COLUMNS

Role = Literal["base", "instruct"]
ROLES: tuple[Role, ...] = ("base", "instruct")


@dataclass(frozen=True)
class Setup:
    """One model in one mode: the main window's, or a compare column's."""

    role: Role
    mode: Mode
    aligned: bool = False  # a base model in chat mode, aligned by examples (compare only)


@dataclass(frozen=True)
class Experiment:
    id: str
    title: str  # the menu's text
    look_for: str  # two sentences, shown while and after it runs
    text: str  # the compare input, the chat message, or the raw document
    main: Setup | None = None  # runs in the main window ...
    columns: tuple[Setup, ...] = ()  # ... or in the compare window, one Setup per column
    system: str = ""  # the system prompt (chat only)
    scaffold: str = ""  # a scaffold's name: its text is the raw document, its stops are added
    again_without_system: bool = False  # then clear the system prompt and regenerate
    shift: bool = False  # after the run, the second column is scored by the first's model

    @property
    def in_compare(self) -> bool:
        return bool(self.columns)

    @property
    def roles(self) -> tuple[Role, ...]:
        setups = self.columns or ((self.main,) if self.main is not None else ())
        return tuple(dict.fromkeys(s.role for s in setups))

    @property
    def first_look(self) -> str:
        """The first sentence of what to look for: what a one-line list shows."""
        end = _SENTENCE_END.search(self.look_for)
        return self.look_for[: end.end()] if end else self.look_for

    @property
    def input_text(self) -> str:
        """What is sent: a scaffold's text when the experiment names one."""
        return scaffold_named(self.scaffold).text if self.scaffold else self.text


EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment(
        id="instruction",
        title="An instruction given to both",
        look_for=(
            "The base model reads the instruction as the start of a document and carries on "
            "writing it, often with more instructions or an exercise list; the instruct model "
            "reads it as a request and writes the poem. Same words, different training: only "
            "the instruct model was taught that text like this asks for an answer."
        ),
        text="Write a short poem about the sea.",
        columns=(Setup("base", "raw"), Setup("instruct", "chat")),
    ),
    Experiment(
        id="few-shot",
        title="A few-shot prompt makes the base model useful",
        look_for=(
            "Two answered questions set a pattern, and the base model answers the third in the "
            "same short style, then stops at the next 'Q:' (the scaffold's stop string, now in "
            "the Sampling panel). Before instruction tuning this was how a model was made "
            "useful: you write the start of a document whose natural continuation is the answer."
        ),
        text="",
        scaffold="Few-shot Q/A",
        main=Setup("base", "raw"),
    ),
    Experiment(
        id="template",
        title="The same chat through the template and as raw text",
        look_for=(
            "The left column wraps your words in the instruct model's chat template and it "
            "answers; the right column sends the same words as bare text, and the same model "
            "often rambles, repeats itself or writes template tokens. An instruct model learned "
            "to answer inside its template: the template is part of the input, not decoration."
        ),
        text="What is the capital of France?",
        columns=(Setup("instruct", "chat"), Setup("instruct", "raw")),
    ),
    Experiment(
        id="system-prompt",
        title="What a system prompt does",
        look_for=(
            "Reply 1/2 was written with the system prompt 'Answer like a pirate' and reply 2/2 "
            "without it: flip between them with the arrows under the reply, and the Prompt "
            "inspector shows where the system prompt sits in the template. A system prompt is "
            "only more text at the start of the prompt; tuning taught the model to let it colour "
            "every answer, and a small model follows it only loosely."
        ),
        text="How do I make a cup of tea?",
        system="Answer like a pirate.",
        again_without_system=True,
        main=Setup("instruct", "chat"),
    ),
    Experiment(
        id="hedge",
        title="A question the instruct model hedges on",
        look_for=(
            "The instruct model was tuned not to claim opinions of its own, so it tends to hedge "
            "('as an AI', 'it depends') or to list both sides; the base model, answering in a "
            "plain transcript, simply picks one as a person on a forum would. Hedging is learned "
            "in tuning, mostly from preference data: it is not knowledge the base model lacks."
        ),
        text="Which is better as a pet, a cat or a dog? Tell me your own opinion in one line.",
        columns=(Setup("base", "chat"), Setup("instruct", "chat")),
    ),
    Experiment(
        id="token-shift",
        title="The token shift of an answer",
        look_for=(
            "When both columns finish, the instruct model's answer is scored by the base model: "
            "each token is marked unshifted (the base model's own first choice), marginal (in its "
            "top 3) or shifted (neither). Most tokens are ones the base model would have written "
            "too; the few shifted ones, mostly style and politeness words, are what tuning changed."
        ),
        text="Give me three tips for sleeping better.",
        columns=(Setup("base", "chat"), Setup("instruct", "chat")),
        shift=True,
    ),
    Experiment(
        id="examples",
        title="A base model aligned by examples",
        look_for=(
            "The left column is the base model in chat mode after a few example exchanges (Edit "
            "examples… in the Sampling panel shows them and lets you change them); the right is "
            "the instruct model. With no tuning at all, the examples alone often make the base "
            "model answer like an assistant and stop when its answer ends: much of what tuning "
            "teaches is this style, as Lin and colleagues found in 2023 with their URIAL method."
        ),
        text="How can I stay focused while studying?",
        columns=(Setup("base", "chat", aligned=True), Setup("instruct", "chat")),
    ),
)

_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def experiment_named(experiment_id: str) -> Experiment:
    """The experiment with this id (ids come from this module's own list: a wrong one is a bug)."""
    for experiment in EXPERIMENTS:
        if experiment.id == experiment_id:
            return experiment
    raise KeyError(experiment_id)


def problems(experiments: tuple[Experiment, ...] = EXPERIMENTS) -> list[str]:
    """What is wrong with these experiments as data; empty when they can all run."""
    found: list[str] = []
    ids = [e.id for e in experiments]
    if len(set(ids)) != len(ids):
        found.append("experiment ids repeat")
    scaffolds = {s.name for s in SCAFFOLDS}
    for e in experiments:
        where = f"{e.id}:"
        if (e.main is None) == (not e.columns):
            found.append(f"{where} runs either in the main window or in compare, not both or none")
        if e.columns and not 2 <= len(e.columns) <= MAX_COLUMNS:
            found.append(f"{where} compare needs 2 to {MAX_COLUMNS} columns")
        for setup in (*e.columns, *((e.main,) if e.main else ())):
            if setup.role not in ROLES or setup.mode not in MODES:
                found.append(f"{where} unknown role or mode {setup}")
            if setup.aligned and (setup.role, setup.mode) != ("base", "chat"):
                found.append(f"{where} only a base model in chat mode is aligned by examples")
        if e.main is not None and e.main.aligned:
            found.append(f"{where} aligned by examples is a compare column's option")
        if len(_SENTENCE_END.findall(e.look_for)) != 2:
            found.append(f"{where} 'look for' is not two sentences")
        if e.scaffold and e.scaffold not in scaffolds:
            found.append(f"{where} no scaffold named {e.scaffold!r}")
        if e.scaffold and (e.main is None or e.main.mode != "raw"):
            found.append(f"{where} a scaffold is a raw document in the main window")
        if not (e.text if e.scaffold not in scaffolds else e.input_text).strip():
            found.append(f"{where} nothing to send")
        if e.again_without_system and not (e.system and e.main and e.main.mode == "chat"):
            found.append(f"{where} 'again without the system prompt' needs a chat with one")
        if e.shift and len(e.columns) < 2:
            found.append(f"{where} a token shift needs two columns")
    return found
