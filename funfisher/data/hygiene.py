"""Training-set hygiene: reproducible subsampling and keeping evaluation data out of training data."""
from __future__ import annotations

import random
from typing import Sequence, TypeVar

from .examples import QAExample

T = TypeVar("T")


def subsample(examples: Sequence[T], n: int | None, seed: int) -> list[T]:
    """`n` examples drawn without replacement with `random.Random(seed)`, kept in original order.

    Same seed -> same subset, independent of any global random state. n=None or n >= len returns all.
    """
    if n is None or n >= len(examples):
        return list(examples)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    chosen = sorted(random.Random(seed).sample(range(len(examples)), n))
    return [examples[i] for i in chosen]


def remove_xquad_paragraphs(squad: Sequence[QAExample], xquad_en: Sequence[QAExample]) -> tuple[list[QAExample], str]:
    """Drop every SQuAD question whose paragraph XQuAD was translated from (matched on context text).

    Why: XQuAD's 240 paragraphs come from SQuAD v1.1 dev; validating or selecting on SQuAD dev while
    testing on XQuAD would leak the test paragraphs (in English) into model selection.
    Returns the kept examples and a note for the run's records.
    """
    xquad_contexts = {example.context for example in xquad_en}
    kept = [example for example in squad if example.context not in xquad_contexts]
    removed_paragraphs = {example.context for example in squad} & xquad_contexts
    note = (
        f"removed {len(removed_paragraphs)} paragraphs ({len(squad) - len(kept)} questions) that XQuAD was "
        f"translated from; {len(kept)} questions remain"
    )
    if len(removed_paragraphs) != len(xquad_contexts):
        note += f" ({len(xquad_contexts) - len(removed_paragraphs)} XQuAD paragraphs were not found in this file)"
    return kept, note
