"""Scaffolds: the shapes of text that turn a base model's continuation into something useful,
each with the stop strings that end the part the model is meant to write."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scaffold:
    name: str
    explanation: str  # what it does, in a sentence (the menu's tooltip)
    text: str  # ends where the model is to go on
    stop: tuple[str, ...] = ()  # where the model's part ends: the next turn of the pattern


SCAFFOLDS: tuple[Scaffold, ...] = (
    Scaffold(
        "Few-shot Q/A",
        "Two answered questions teach the pattern; the model answers the third the same way "
        "and stops at the next 'Q:'.",
        "Q: What is the capital of Italy?\nA: Rome.\n\nQ: How many legs does a spider have?\n"
        "A: Eight.\n\nQ: What gas do plants take in?\nA:",
        stop=("\nQ:",),
    ),
    Scaffold(
        "Dialogue transcript",
        "A script with named speakers: the model writes the assistant's next line and stops "
        "where the user would speak.",
        "The following is a conversation between a curious user and a helpful, knowledgeable "
        "assistant.\n\nUser: Hello! Can you help me plan a picnic?\nAssistant: Of course. Where "
        "would you like to go?\nUser: Somewhere near a lake.\nAssistant:",
        stop=("\nUser:",),
    ),
    Scaffold(
        "Document opening",
        "The start of a well-written document: the model continues in the same register.",
        "# A Beginner's Guide to Bread Baking\n\n## Introduction\n\nBaking bread at home needs "
        "only four ingredients: flour, water, salt and yeast. In this guide",
    ),
)


def scaffold_named(name: str) -> Scaffold:
    return next(s for s in SCAFFOLDS if s.name == name)


def set_apart(before: str, after: str, text: str) -> str:
    """`text` as inserted between `before` and `after`: one blank line from any text on either
    side, so a scaffold never runs on from the words around it."""
    if before.strip():
        text = "\n" * (2 - _newlines_at_end(before)) + text
    if after.strip():
        text = text + "\n" * (2 - _newlines_at_start(after))
    return text


def _newlines_at_end(text: str) -> int:
    return min(2, len(text) - len(text.rstrip("\n")))


def _newlines_at_start(text: str) -> int:
    return min(2, len(text) - len(text.lstrip("\n")))
