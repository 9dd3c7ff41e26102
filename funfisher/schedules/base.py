"""The common interface of all unfreezing schedules: the SELECT step of Algorithm 1.

The paper's generalized scheduled-unfreezing algorithm (Algorithm 1) trains a model whose L
*units* (here: the task adapter of each layer, identified by the layer index 0..L-1) start
frozen. The classification head is always trainable and is not a unit. At the steps
0, k, 2k, ... a SELECT function returns the units to add to the trainable set; units are never
re-frozen. The schedules of the paper differ only in SELECT.

This module holds what every schedule shares:

* :class:`Selection`, the value SELECT returns (the chosen units and, for FUN, the tr(F)
  ranking that decided them), with :meth:`Selection.to_record` for the run log;
* :class:`Schedule`, the small abstract interface a trainer loop talks to;
* validation helpers that raise ``ValueError`` naming the offending option.
"""
from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: tr(F) per unit, as estimated by the caller (see ``funfisher.fisher``).
FisherTraces = Mapping[int, float]


@dataclass(frozen=True)
class Selection:
    """What one call of SELECT (Algorithm 1) decided.

    Attributes:
        step: the training step of the selection (0, k, 2k, ...).
        units: the units to add to the trainable set now, in the order they were chosen
            (possibly empty, e.g. LPFT at step 0).
        ranking: only for schedules that rank units by tr(F) (FUN): every unit that was frozen
            before this selection, as ``(unit, tr(F))`` pairs, best first. ``None`` otherwise.
    """

    step: int
    units: tuple[int, ...]
    ranking: tuple[tuple[int, float], ...] | None = None

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready log entry: ``{"step", "units"}`` plus ``"ranking"`` when there is one."""
        record: dict[str, Any] = {"step": self.step, "units": list(self.units)}
        if self.ranking is not None:
            record["ranking"] = [{"unit": unit, "trace": trace} for unit, trace in self.ranking]
        return record


class Schedule(ABC):
    """A scheduled-unfreezing policy: when to call SELECT, and what SELECT returns.

    A trainer uses it as in Algorithm 1::

        for step in range(total_steps):
            if schedule.is_selection_step(step):
                frozen = schedule.frozen_units(trainable)
                fisher = estimate_traces(frozen) if schedule.needs_fisher_at(step) else None
                selection = schedule.select(step, trainable, fisher)
                trainable |= set(selection.units)
                log.append(selection.to_record())
            ...  # one optimisation step

    ``select`` is a pure function of ``(step, trainable, fisher)`` and of the schedule's
    configuration, so a resumed run only needs the restored trainable set and
    :meth:`state_dict` (which matters for the random schedule, whose order was drawn once).
    """

    #: Whether ``select`` ever needs tr(F) values (only FUN); per step: :meth:`needs_fisher_at`.
    needs_fisher: bool = False

    def __init__(self, name: str, n_units: int, k: int) -> None:
        self.name = name
        self.n_units = check_positive_int("n_units", n_units)
        self.k = check_positive_int("k", k)

    # ----------------------------------------------------------------------------- timing
    @property
    @abstractmethod
    def n_selections(self) -> int:
        """How many selection steps the schedule has: they are 0, k, ..., (n_selections-1)*k."""

    def selection_steps(self) -> range:
        """All selection steps, in order."""
        return range(0, self.n_selections * self.k, self.k)

    def is_selection_step(self, step: int) -> bool:
        """True at step 0, k, 2k, ... while the schedule still has selections to make.

        After the last selection every unit the schedule will ever release is trainable, so
        later multiples of k are not selection steps (Algorithm 1 stops unfreezing there).
        """
        step = operator.index(step)
        return step >= 0 and step % self.k == 0 and step // self.k < self.n_selections

    def needs_fisher_at(self, step: int) -> bool:
        """Whether SELECT at selection step ``step`` needs tr(F) values (FUN, except where it
        starts with the top unit at step 0)."""
        return self.needs_fisher

    # -------------------------------------------------------------------------- selection
    def frozen_units(self, trainable: Iterable[int]) -> list[int]:
        """The units that are not trainable yet, ascending (what FUN needs tr(F) for)."""
        trainable_set = check_unit_ids("trainable", trainable, self.n_units)
        return [unit for unit in range(self.n_units) if unit not in trainable_set]

    def select(
        self,
        step: int,
        trainable: Iterable[int] = frozenset(),
        fisher: FisherTraces | None = None,
    ) -> Selection:
        """SELECT of Algorithm 1: the units to add to the trainable set at ``step``.

        Args:
            step: a selection step (see :meth:`is_selection_step`); other steps raise.
            trainable: the units that are trainable now. Units already trainable are never
                returned (nothing is selected twice, nothing is re-frozen).
            fisher: ``{unit: tr(F)}`` covering at least every frozen unit; required when
                :meth:`needs_fisher_at` the step, ignored otherwise.
        """
        if not self.is_selection_step(step):
            raise ValueError(
                f"step {step} is not a selection step of schedule {self.name!r} "
                f"(k={self.k}, selection steps {describe_steps(self.selection_steps())})"
            )
        trainable_set = frozenset(check_unit_ids("trainable", trainable, self.n_units))
        return self._select(step // self.k, step, trainable_set, fisher)

    @abstractmethod
    def _select(
        self, index: int, step: int, trainable: frozenset[int], fisher: FisherTraces | None
    ) -> Selection:
        """The schedule-specific rule for the ``index``-th selection step (``step = index*k``)."""

    # --------------------------------------------------------------------- checkpointing
    def state_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot; subclasses add what a resumed run needs."""
        return {"name": self.name, "n_units": self.n_units, "k": self.k}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a snapshot; it must come from an equally configured schedule.

        Subclasses extend this to check their own options and restore their own state.
        """
        self._check_same(state, ("name", "n_units", "k"))

    def _check_same(self, state: Mapping[str, Any], keys: Iterable[str]) -> None:
        """``ValueError`` unless ``state`` has this schedule's value for each of ``keys``."""
        mine = self.state_dict()
        for key in keys:
            if key not in state:
                raise ValueError(f"schedule state_dict is missing {key!r}")
            if state[key] != mine[key]:
                raise ValueError(
                    f"schedule state_dict mismatch for {key!r}: "
                    f"checkpoint has {state[key]!r}, this schedule has {mine[key]!r}"
                )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} n_units={self.n_units} k={self.k}>"


# ------------------------------------------------------------------------------ validation
def check_positive_int(option: str, value: Any) -> int:
    """``value`` as an int >= 1, or ``ValueError`` naming ``option``."""
    if isinstance(value, bool):
        raise ValueError(f"option {option!r} must be a positive integer, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"option {option!r} must be a positive integer, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"option {option!r} must be a positive integer, got {number}")
    return number


def check_choice(option: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``, or ``ValueError`` naming ``option``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"option {option!r} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_unit_id(option: str, unit: Any, n_units: int) -> int:
    """``unit`` as an int in ``0..n_units-1``, or ``ValueError`` naming ``option``."""
    if isinstance(unit, bool):
        raise ValueError(f"option {option!r}: unit id must be an integer, got {unit!r}")
    try:
        unit_id = operator.index(unit)
    except TypeError:
        raise ValueError(f"option {option!r}: unit id must be an integer, got {unit!r}") from None
    if not 0 <= unit_id < n_units:
        raise ValueError(
            f"option {option!r}: unit id {unit_id} is out of range for n_units={n_units} "
            f"(valid ids are 0..{n_units - 1})"
        )
    return unit_id


def check_unit_list(option: str, units: Any, n_units: int) -> tuple[int, ...]:
    """An ordered list of distinct, in-range unit ids, or ``ValueError`` naming ``option``."""
    if isinstance(units, (str, bytes)) or not isinstance(units, Iterable):
        raise ValueError(f"option {option!r} must be a list of unit ids, got {units!r}")
    checked: list[int] = []
    for unit in units:
        unit_id = check_unit_id(option, unit, n_units)
        if unit_id in checked:
            raise ValueError(f"option {option!r}: duplicate unit id {unit_id} in {list(units)!r}")
        checked.append(unit_id)
    return tuple(checked)


def check_unit_ids(option: str, units: Iterable[Any], n_units: int) -> frozenset[int]:
    """A set of in-range unit ids (duplicates are harmless in a set)."""
    if isinstance(units, (str, bytes)) or not isinstance(units, Iterable):
        raise ValueError(f"option {option!r} must be a collection of unit ids, got {units!r}")
    return frozenset(check_unit_id(option, unit, n_units) for unit in units)


def describe_steps(steps: range) -> str:
    """``"0, 50, ..., 550"`` for error messages."""
    if len(steps) <= 3:
        return "[" + ", ".join(str(step) for step in steps) + "]"
    return f"[{steps[0]}, {steps[1]}, ..., {steps[-1]}]"
