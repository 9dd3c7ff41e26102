"""Schedules whose SELECT ignores the model: a plan fixed before training starts.

In Algorithm 1 the heuristic schedules (standard fine-tuning, LPFT, gradual unfreezing and its
variants) are SELECT functions that do not look at the model: the i-th selection step, at step
``i * k``, releases a group of units decided up front. Such a schedule is just that list of
groups, the *plan*:

=========  ===========================================  =========================
name       plan (L = n_units)                           selection steps
=========  ===========================================  =========================
standard   ``[[0..L-1]]``                               0
lpft       ``[[], [0..L-1]]``                           0, k
gu         ``[[L-1], [L-2], ..., [0]]`` (top-down)      0, k, ..., (L-1)k
revgu      ``[[0], [1], ..., [L-1]]`` (bottom-up)       0, k, ..., (L-1)k
surgical   ``[sorted(units)]``                          0
=========  ===========================================  =========================

The permutation schedules (random, fixed; paper section 5.2) are plans too; they live in
:mod:`funfisher.schedules.permutations`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .base import FisherTraces, Schedule, Selection, check_positive_int, check_unit_list


def select_planned(plan: Sequence[Sequence[int]], index: int, trainable: Iterable[int]) -> list[int]:
    """SELECT for a planned schedule: group ``index`` of ``plan``, minus what is trainable."""
    already = frozenset(trainable)
    return [unit for unit in plan[index] if unit not in already]


def check_plan(plan: Any, n_units: int, option: str = "plan") -> tuple[tuple[int, ...], ...]:
    """A plan as tuples of unit ids; every unit appears at most once over all groups."""
    if isinstance(plan, (str, bytes)) or not isinstance(plan, Iterable):
        raise ValueError(f"option {option!r} must be a list of unit groups, got {plan!r}")
    groups = tuple(tuple(check_unit_list(option, group, n_units)) for group in plan)
    # A unit in two groups would be "selected" twice; check_unit_list catches the duplicate.
    check_unit_list(option, [unit for group in groups for unit in group], n_units)
    return groups


class PlannedSchedule(Schedule):
    """Algorithm 1 with a model-independent SELECT: selection ``i`` releases ``plan[i]``.

    Units listed in no group are never unfrozen. :meth:`state_dict` contains the plan, so a
    resumed run continues with exactly the plan it started with (this is what makes the
    random schedule resumable without re-drawing its order).
    """

    def __init__(self, name: str, n_units: int, k: int, plan: Iterable[Iterable[int]]) -> None:
        super().__init__(name, n_units, k)
        self.plan = check_plan(plan, self.n_units)

    @property
    def n_selections(self) -> int:
        return len(self.plan)

    def _select(
        self, index: int, step: int, trainable: frozenset[int], fisher: FisherTraces | None
    ) -> Selection:
        return Selection(step=step, units=tuple(select_planned(self.plan, index, trainable)))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "plan": [list(group) for group in self.plan]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Check name, n_units and k, then adopt the checkpoint's plan (the checkpoint wins)."""
        super().load_state_dict(state)
        if "plan" not in state:
            raise ValueError("schedule state_dict is missing 'plan'")
        self.plan = check_plan(state["plan"], self.n_units)


def one_unit_per_step(order: Iterable[int]) -> list[list[int]]:
    """The plan that releases the units of ``order`` one at a time."""
    return [[unit] for unit in order]


def standard(n_units: int, k: int) -> PlannedSchedule:
    """Standard fine-tuning: every task adapter is trainable from step 0 (Algorithm 1 with a
    SELECT that returns all units at the first call)."""
    return PlannedSchedule("standard", n_units, k, [range(n_units)])


def lpft(n_units: int, k: int) -> PlannedSchedule:
    """Linear probing then fine-tuning (LPFT): only the head trains until step k, then every
    unit is released at once. In Algorithm 1: SELECT returns nothing at step 0 and all units
    at step k."""
    return PlannedSchedule("lpft", n_units, k, [[], range(n_units)])


def gradual_unfreezing(n_units: int, k: int) -> PlannedSchedule:
    """Gradual unfreezing (GU), top-down: unit L-1 at step 0, L-2 at step k, ..., unit 0 at
    step (L-1)k. In Algorithm 1: SELECT returns the highest frozen unit."""
    return PlannedSchedule("gu", n_units, k, one_unit_per_step(reversed(range(n_units))))


def reverse_gradual_unfreezing(n_units: int, k: int) -> PlannedSchedule:
    """Reverse gradual unfreezing, bottom-up: unit 0 at step 0, unit 1 at step k, ...
    In Algorithm 1: SELECT returns the lowest frozen unit."""
    return PlannedSchedule("revgu", n_units, k, one_unit_per_step(range(n_units)))


def surgical(n_units: int, k: int, *, units: Sequence[int]) -> PlannedSchedule:
    """Surgical fine-tuning: a fixed subset ``units`` is trainable from step 0, the other units
    are never unfrozen. In Algorithm 1: SELECT returns ``units`` at the first call only."""
    chosen = check_unit_list("units", units, check_positive_int("n_units", n_units))
    if not chosen:
        raise ValueError("option 'units' must list at least one unit for the surgical schedule")
    return PlannedSchedule("surgical", n_units, k, [sorted(chosen)])
