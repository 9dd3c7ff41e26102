"""FUN: Fisher-based scheduled unfreezing (the paper's proposed SELECT for Algorithm 1).

At every selection step the caller estimates tr(F), the trace of the Fisher information, for
each frozen unit (see ``funfisher.fisher``), and FUN releases the frozen unit with the largest
tr(F). Ties go to the higher layer, which makes FUN fall back to the top-down order of gradual
unfreezing when tr(F) cannot tell units apart.

Step 0 (``first``): as in the paper (Section 4.1: "the classifier and the top-most adapter
unfrozen" for scheduled unfreezing) and the authors' released code, the top unit is trainable
from step 0 and the first tr(F) decision is at step k (``first="top"``, the default). With
``first="fisher"`` tr(F) decides step 0 as well.

The variant with ``m > 1`` releases the ``m`` frozen units with the largest tr(F) at a time
(the last selection may release fewer).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .base import FisherTraces, Schedule, Selection, check_choice, check_positive_int, check_unit_id

FIRST_FUN = ("top", "fisher")  # fun's `first`


def check_fisher(fisher: FisherTraces | None, frozen: Iterable[int], n_units: int) -> dict[int, float]:
    """tr(F) as ``{unit: float}``: keys in range, finite values, every frozen unit present."""
    frozen = sorted(frozen)
    if fisher is None:
        raise ValueError(
            "option 'fisher': the fun schedule needs tr(F) values, pass fisher={unit: trace} "
            f"covering the frozen units {frozen}"
        )
    if not isinstance(fisher, Mapping):
        raise ValueError(f"option 'fisher' must be a mapping {{unit: trace}}, got {type(fisher).__name__}")
    traces: dict[int, float] = {}
    for unit, value in fisher.items():
        unit_id = check_unit_id("fisher", unit, n_units)
        try:
            trace = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"option 'fisher': tr(F) of unit {unit_id} is not a number: {value!r}") from None
        if not math.isfinite(trace):
            raise ValueError(f"option 'fisher': tr(F) of unit {unit_id} must be finite, got {trace}")
        traces[unit_id] = trace
    missing = [unit for unit in frozen if unit not in traces]
    if missing:
        raise ValueError(f"option 'fisher': missing tr(F) for frozen unit(s) {missing}")
    return traces


def rank_by_fisher(traces: Mapping[int, float], units: Iterable[int]) -> list[tuple[int, float]]:
    """``units`` as ``(unit, tr(F))`` pairs, largest tr(F) first; ties: higher unit first."""
    return sorted(((unit, traces[unit]) for unit in units), key=lambda pair: (-pair[1], -pair[0]))


def select_by_fisher(traces: Mapping[int, float], frozen: Iterable[int], m: int = 1) -> list[int]:
    """SELECT of FUN (Algorithm 1): the ``m`` frozen units with the largest tr(F)."""
    return [unit for unit, _ in rank_by_fisher(traces, frozen)[:m]]


class FisherSchedule(Schedule):
    """FUN as a :class:`Schedule`: needs tr(F) at its selection steps, releases ``m`` units.

    With ``first="top"``: selection 0 releases the top unit, then ``ceil((n_units - 1) / m)``
    tr(F) selections follow; with ``first="fisher"``: ``ceil(n_units / m)`` tr(F) selections.
    Each tr(F) :class:`Selection` carries the full ranking of the units that were frozen, so
    the run log shows why a unit was chosen.
    """

    needs_fisher = True

    def __init__(self, n_units: int, k: int, m: int = 1, first: str = "top") -> None:
        super().__init__("fun", n_units, k)
        self.m = check_positive_int("m", m)
        self.first = check_choice("first", first, FIRST_FUN)

    @property
    def _top_first(self) -> bool:
        return self.first == "top" and self.n_units > 1

    @property
    def n_selections(self) -> int:
        if self._top_first:
            return 1 + math.ceil((self.n_units - 1) / self.m)
        return math.ceil(self.n_units / self.m)

    def needs_fisher_at(self, step: int) -> bool:
        return not (self._top_first and step == 0)

    def _select(
        self, index: int, step: int, trainable: frozenset[int], fisher: FisherTraces | None
    ) -> Selection:
        if index == 0 and self._top_first:
            top = self.n_units - 1
            return Selection(step=step, units=() if top in trainable else (top,))
        frozen = [unit for unit in range(self.n_units) if unit not in trainable]
        if not frozen:  # nothing left to choose from; tr(F) is not needed
            return Selection(step=step, units=(), ranking=())
        traces = check_fisher(fisher, frozen, self.n_units)
        ranking = rank_by_fisher(traces, frozen)
        chosen = tuple(unit for unit, _ in ranking[: self.m])
        return Selection(step=step, units=chosen, ranking=tuple(ranking))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "m": self.m, "first": self.first}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self._check_same(state, ("m", "first"))


def fun(n_units: int, k: int, *, m: int = 1, first: str = "top") -> FisherSchedule:
    """FUN (Algorithm 1 with a tr(F)-based SELECT): the top unit at step 0 (``first="top"``;
    ``"fisher"``: chosen by tr(F) too), then at k, 2k, ... the ``m`` frozen units with the
    largest tr(F); ties go to the higher layer."""
    return FisherSchedule(n_units, k, m, first)
