"""Algorithm 1's bookkeeping without a model: which units become trainable when.

:func:`simulate` runs the selection loop of Algorithm 1 over ``total_steps`` training steps,
with tr(F) supplied by a function (or a fixed table) instead of a model. It returns the same
records a trainer logs (``[{"step": int, "units": [...]}, ...]``, plus ``"ranking"`` for FUN),
which tests and the "schedule vs top-down" plot use.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union

from .base import FisherTraces, Schedule

#: tr(F) for a simulation: a fixed table, or ``fisher_fn(step, frozen_units) -> {unit: trace}``.
FisherSource = Union[FisherTraces, Callable[[int, frozenset[int]], FisherTraces]]


def simulate(
    schedule: Schedule,
    total_steps: int,
    fisher_fn: FisherSource | None = None,
    trainable: Iterable[int] = (),
) -> list[dict[str, Any]]:
    """Run the selection steps of ``schedule`` that fall in ``range(total_steps)``.

    Args:
        schedule: any :class:`Schedule`. It is not modified.
        total_steps: the number of training steps; only selection steps below it happen.
        fisher_fn: tr(F) source, required when ``schedule.needs_fisher``. A callable receives
            the step and the frozen units and returns ``{unit: trace}``.
        trainable: units that are trainable before step 0 (normally none).

    Returns:
        One record per selection step, in step order (:meth:`Selection.to_record`); a step
        that releases nothing (LPFT at step 0) still has a record with ``"units": []``.
    """
    if schedule.needs_fisher and fisher_fn is None:
        raise ValueError(f"option 'fisher_fn': schedule {schedule.name!r} needs tr(F) values")
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 0:
        raise ValueError(f"option 'total_steps' must be a non-negative integer, got {total_steps!r}")

    current = set(trainable)
    records: list[dict[str, Any]] = []
    for step in schedule.selection_steps():
        if step >= total_steps:
            break
        fisher = None
        if schedule.needs_fisher_at(step):
            frozen = frozenset(schedule.frozen_units(current))
            fisher = fisher_fn(step, frozen) if callable(fisher_fn) else fisher_fn
        selection = schedule.select(step, frozenset(current), fisher)
        current.update(selection.units)
        records.append(selection.to_record())
    return records


def unfreeze_steps(records: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """``{unit: step at which it became trainable}`` from a list of selection records."""
    steps: dict[int, int] = {}
    for record in records:
        for unit in record["units"]:
            if unit in steps:
                raise ValueError(f"unit {unit} is unfrozen twice (steps {steps[unit]} and {record['step']})")
            steps[unit] = record["step"]
    return steps
