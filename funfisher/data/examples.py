"""Example records shared by readers, features and metrics.

Examples are small frozen dataclasses holding *text*, never token ids: one record per labelled item of
the original file, so a reader can be checked against the official counts and an example can be
printed and read by a human. Tokenisation happens later, in `features.py`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, TypeVar, Union

#: NLI label order used everywhere in this project (the MNLI/GLUE and HF `xnli` order):
#: 0 = entailment, 1 = neutral, 2 = contradiction.
NLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")

#: Label strings accepted in files. "contradictory" is the spelling of the machine-translated
#: XNLI training files distributed by XTREME; it means "contradiction".
NLI_LABEL_IDS: dict[str, int] = {
    "entailment": 0,
    "neutral": 1,
    "contradiction": 2,
    "contradictory": 2,
}

#: COPA question types, in the words the multiple-choice prompt uses ("What was the cause?").
COPA_QUESTIONS: tuple[str, ...] = ("cause", "effect")


@dataclass(frozen=True)
class PairExample:
    """A sentence pair for classification (NLI). `label` is an index into NLI_LABELS, or None if unlabelled."""

    id: str
    text_a: str
    text_b: str
    label: int | None


@dataclass(frozen=True)
class ChoiceExample:
    """A COPA-style item: a premise, a question type ("cause"/"effect"), the alternatives, the 0-based gold index."""

    id: str
    premise: str
    question: str
    choices: tuple[str, ...]
    label: int


@dataclass(frozen=True)
class QAExample:
    """One SQuAD-format question. `answers` holds (text, answer_start) pairs in file order; the first
    is used for training, all of them for evaluation (max over gold answers)."""

    id: str
    question: str
    context: str
    answers: tuple[tuple[str, int], ...]
    title: str = ""


Example = Union[PairExample, ChoiceExample, QAExample]
E = TypeVar("E")


class ExampleList(list):
    """A plain list of examples plus `notes`: human-readable remarks about how it was read.

    Notes record everything a result table should mention: skipped unlabelled items, fixed upstream
    errors, reconstructed files. Slicing returns a plain list (notes are not copied).
    """

    def __init__(self, items: Iterable = (), notes: Iterable[str] = ()) -> None:
        super().__init__(items)
        self.notes: list[str] = list(notes)
