"""Scheduled unfreezing of task adapters: the SELECT functions of the paper's Algorithm 1.

Algorithm 1 (Liu et al., "FUN with Fisher", NAACL 2024, Section 3.2): a model's L *units* (here
the task adapter of each layer; unit id = layer index 0..L-1, L-1 is the top) start frozen, the
classification head always trains. At steps 0, k, 2k, ... SELECT returns the units to add to the
trainable set; nothing is ever re-frozen. The schedules differ only in SELECT. All but FUN ignore
the model: their SELECT is a *plan*, a list of unit groups fixed up front, group i released at i*k.

========  ===============================================  ==============================
name      SELECT (L = n_units)                             options
========  ===============================================  ==============================
standard  plan [[0..L-1]]                                  -
lpft      plan [[], [0..L-1]] (head only until step k)     -
gu        plan [[L-1], [L-2], ..., [0]] (top-down)         -
revgu     plan [[0], [1], ..., [L-1]] (bottom-up)          -
random    plan [[L-1], then 0..L-2 shuffled, one by one]   seed (required), first
fixed     plan [[order[0]], [order[1]], ...]               order (required, every unit once)
surgical  plan [sorted(units)]; other units never train    units (required)
fun       the m frozen units with the largest tr(F)        m (default 1), first
========  ===============================================  ==============================

Step 0, option ``first``: as in the paper (Section 4.1, "the classifier and the top-most adapter
unfrozen"; Section 5.2, footnote 9, "The 11th layer is always unfrozen at the beginning") and the
authors' released code, random and FUN release the top unit at step 0 (``first="top"``, the
default). ``first="random"`` shuffles all L units; ``first="fisher"`` lets tr(F) decide step 0 too.
So Section 5.2's permutation [10, 1, 0, 3, 9, 6, 8, 2, 5, 7, 4] is the fixed order
[11, 10, 1, 0, 3, 9, 6, 8, 2, 5, 7, 4] here. Usage (as in ``funfisher.train.recipe``)::

    schedule = make_schedule("fun", n_units=12, k=50, m=1)
    for step in range(total_steps):
        if schedule.is_selection_step(step):
            frozen = schedule.frozen_units(trainable)
            fisher = estimate(frozen) if schedule.needs_fisher_at(step) else None  # {unit: tr(F)}
            selection = schedule.select(step, trainable, fisher)
            trainable |= set(selection.units)
            log.append(selection.to_record())  # {"step", "units"} (+ "ranking" for FUN)
"""
from __future__ import annotations

import math
import operator
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FisherTraces = Mapping[int, float]  # tr(F) per unit, estimated by the caller (funfisher.fisher)
Plan = list[list[int]]
FIRST = {"random": ("top", "random"), "fun": ("top", "fisher")}  # the choices of option `first`


# ------------------------------------------------------------------ planned schedules: the plans
def standard(n_units: int) -> Plan:
    return [list(range(n_units))]


def lpft(n_units: int) -> Plan:
    return [[], list(range(n_units))]


def gu(n_units: int) -> Plan:
    return [[unit] for unit in reversed(range(n_units))]


def revgu(n_units: int) -> Plan:
    return [[unit] for unit in range(n_units)]


def random_order(n_units: int, seed: int, first: str = "top") -> Plan:
    """The paper's +Rand: the top unit, then the others in a random order (``first="top"``), or all
    units in a random order (``first="random"``); from a private ``random.Random(seed)``."""
    top_first = check_choice("first", first, FIRST["random"]) == "top"
    order = list(range(n_units - 1 if top_first else n_units))
    random.Random(check_seed(seed)).shuffle(order)
    return [[unit] for unit in ([n_units - 1, *order] if top_first else order)]


def fixed(n_units: int, order: Sequence[int]) -> Plan:
    """``order[i]`` at step i*k; ``order`` names every unit once (training only some is surgical)."""
    checked = check_unit_list("order", order, n_units)
    missing = [unit for unit in range(n_units) if unit not in checked]
    if missing:
        top_first = f"[{n_units - 1}, ...]" if n_units - 1 in missing else "the missing units"
        raise ValueError(
            f"option 'order' must list every unit 0..{n_units - 1} once; missing {missing}. "
            f"For the paper's 11-unit permutations put the top unit first ({top_first}); to train "
            f"only some units use the 'surgical' schedule (schedule.units)")
    return [[unit] for unit in checked]


def surgical(n_units: int, units: Sequence[int]) -> Plan:
    """Surgical fine-tuning: ``units`` train from step 0, the others never."""
    chosen = check_unit_list("units", units, n_units)
    if not chosen:
        raise ValueError("option 'units' must list at least one unit for the surgical schedule")
    return [sorted(chosen)]


def sample_permutations(n_units: int, count: int, *, first_in: Iterable[int] | None = None,
                        seed: int = 0) -> list[list[int]]:
    """``count`` distinct orders of 0..n_units-1 for the fixed schedule, as Section 5.2 samples them:
    a uniform first unit from ``first_in`` (default: the two top units), the rest shuffled;
    duplicates are re-drawn. ``ValueError`` if fewer than ``count`` such orders exist."""
    n_units = check_positive_int("n_units", n_units)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"option 'count' must be a non-negative integer, got {count!r}")
    if first_in is None:
        first_in = range(n_units - 1, max(n_units - 3, -1), -1)
    firsts = sorted(check_unit_list("first_in", first_in, n_units))
    if not firsts:
        raise ValueError("option 'first_in' must list at least one unit")
    available = len(firsts) * math.factorial(n_units - 1)
    if count > available:
        raise ValueError(f"option 'count': asked for {count} distinct permutations but only {available} "
                         f"start with a unit in {firsts} (n_units={n_units})")
    rng = random.Random(check_seed(seed))
    drawn: list[list[int]] = []
    while len(drawn) < count:
        first = rng.choice(firsts)
        rest = [unit for unit in range(n_units) if unit != first]
        rng.shuffle(rest)
        if [first, *rest] not in drawn:
            drawn.append([first, *rest])
    return drawn


# ------------------------------------------------------------------------------ FUN: SELECT by tr(F)
def rank_by_fisher(traces: FisherTraces, units: Iterable[int]) -> list[tuple[int, float]]:
    """``units`` as ``(unit, tr(F))`` pairs, largest tr(F) first. Ties go to the higher unit, so FUN
    falls back to the top-down order of gradual unfreezing when tr(F) cannot tell units apart."""
    return sorted(((unit, traces[unit]) for unit in units), key=lambda pair: (-pair[1], -pair[0]))


def select_fun(traces: FisherTraces, frozen: Iterable[int], m: int = 1) -> list[int]:
    """FUN's SELECT: the ``m`` frozen units with the largest tr(F) (the last selection may have fewer)."""
    return [unit for unit, _ in rank_by_fisher(traces, frozen)[:m]]


# ------------------------------------------------------------------------- what the trainer uses
@dataclass(frozen=True)
class Selection:
    """What one SELECT decided: the units released at ``step``, in the order chosen, and for FUN
    the ranking ``((unit, tr(F)), ...)`` of every unit that was frozen, best first."""

    step: int
    units: tuple[int, ...]
    ranking: tuple[tuple[int, float], ...] | None = None

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready log entry: ``{"step", "units"}`` plus ``"ranking"`` when there is one."""
        record: dict[str, Any] = {"step": self.step, "units": list(self.units)}
        if self.ranking is not None:
            record["ranking"] = [{"unit": unit, "trace": trace} for unit, trace in self.ranking]
        return record


@dataclass
class Schedule:
    """A schedule: a ``plan`` (group i released at step i*k), or FUN (``plan`` None) with ``m``
    units per tr(F) selection and ``first`` ("top": the top unit at step 0 without tr(F))."""

    name: str
    n_units: int
    k: int
    plan: Sequence[Sequence[int]] | None = None  # planned schedules: groups of unit ids
    m: int | None = None  # fun
    first: str | None = None  # fun

    def __post_init__(self) -> None:
        self.n_units = check_positive_int("n_units", self.n_units)
        self.k = check_positive_int("k", self.k)
        if self.plan is not None:
            self.plan = check_plan(self.plan, self.n_units)
        else:
            self.m = check_positive_int("m", self.m)
            self.first = check_choice("first", self.first, FIRST["fun"])

    @property
    def needs_fisher(self) -> bool:
        """Whether SELECT ever needs tr(F) (FUN); per step see :meth:`needs_fisher_at`."""
        return self.plan is None

    @property
    def top_first(self) -> bool:  # FUN releases the top unit at step 0, without tr(F)
        return self.needs_fisher and self.first == "top" and self.n_units > 1

    def selection_steps(self) -> range:
        """0, k, ...: one step per plan group; FUN: the top unit (if first) then ceil(units / m)."""
        if self.plan is not None:
            count = len(self.plan)
        elif self.top_first:
            count = 1 + math.ceil((self.n_units - 1) / self.m)
        else:
            count = math.ceil(self.n_units / self.m)
        return range(0, count * self.k, self.k)

    def is_selection_step(self, step: int) -> bool:
        """True at 0, k, 2k, ... until every unit the schedule will release is trainable."""
        return operator.index(step) in self.selection_steps()

    def needs_fisher_at(self, step: int) -> bool:
        return self.needs_fisher and not (self.top_first and step == 0)

    def frozen_units(self, trainable: Iterable[int]) -> list[int]:
        """The units that are not trainable yet, ascending (what FUN needs tr(F) for)."""
        if isinstance(trainable, (str, bytes)) or not isinstance(trainable, Iterable):
            raise ValueError(f"option 'trainable' must be a collection of unit ids, got {trainable!r}")
        trainable = {check_unit_id("trainable", unit, self.n_units) for unit in trainable}
        return [unit for unit in range(self.n_units) if unit not in trainable]

    def select(self, step: int, trainable: Iterable[int] = frozenset(), fisher: FisherTraces | None = None
               ) -> Selection:
        """SELECT at a selection step: the units to add; already trainable ones are never returned.
        ``fisher`` ({unit: tr(F)} covering the frozen units) is needed when :meth:`needs_fisher_at`."""
        steps = self.selection_steps()
        if not self.is_selection_step(step):
            shown = ", ".join(map(str, steps)) if len(steps) <= 3 else f"{steps[0]}, {steps[1]}, ..., {steps[-1]}"
            raise ValueError(f"step {step} is not a selection step of schedule {self.name!r} "
                             f"(k={self.k}, selection steps [{shown}])")
        frozen = self.frozen_units(trainable)
        if self.plan is not None:
            return Selection(step, tuple(unit for unit in self.plan[step // self.k] if unit in frozen))
        top = self.n_units - 1
        if step == 0 and self.top_first:  # the top unit, without tr(F)
            return Selection(step, (top,) if top in frozen else ())
        if not frozen:  # nothing left to choose from; tr(F) is not needed
            return Selection(step, (), ranking=())
        traces = check_fisher(fisher, frozen, self.n_units)
        return Selection(step, tuple(select_fun(traces, frozen, self.m)), tuple(rank_by_fisher(traces, frozen)))

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready; it holds the plan, so a resumed random run keeps the order it drew."""
        state = {"name": self.name, "n_units": self.n_units, "k": self.k}
        if self.plan is None:
            return {**state, "m": self.m, "first": self.first}
        return {**state, "plan": [list(group) for group in self.plan]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Check that ``state`` comes from an equally configured schedule, then adopt its plan."""
        mine = self.state_dict()
        for key in mine:
            if key not in state:
                raise ValueError(f"schedule state_dict is missing {key!r}")
            if key != "plan" and state[key] != mine[key]:
                raise ValueError(f"schedule state_dict mismatch for {key!r}: "
                                 f"checkpoint has {state[key]!r}, this schedule has {mine[key]!r}")
        if self.plan is not None:
            self.plan = check_plan(state["plan"], self.n_units)


# ------------------------------------------------------------------------------ schedules by name
#: name -> (its SELECT: the function returning its plan, or FUN's select function;
#:          its config options, each mapped to whether it is required)
SCHEDULES: dict[str, tuple[Callable[..., list], dict[str, bool]]] = {
    "standard": (standard, {}),
    "lpft": (lpft, {}),
    "gu": (gu, {}),
    "revgu": (revgu, {}),
    "random": (random_order, {"seed": True, "first": False}),
    "fixed": (fixed, {"order": True}),
    "surgical": (surgical, {"units": True}),
    "fun": (select_fun, {"m": False, "first": False}),
}


def schedule_options(name: str) -> dict[str, bool]:
    """The options schedule ``name`` takes, each mapped to whether it is required."""
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ValueError(f"option 'schedule': unknown schedule {name!r}; valid schedules are {', '.join(SCHEDULES)}")
    return dict(SCHEDULES[name][1])


def make_schedule(name: str, n_units: int, k: int, **options: Any) -> Schedule:
    """The schedule ``name`` for ``n_units`` units and interval ``k``. ``options``: seed (random),
    order (fixed), units (surgical), m (fun), first (random, fun); an option set to None counts as
    not given (one config serves every schedule), any other option the schedule does not take is
    an error."""
    accepted = schedule_options(name)
    given = {option: value for option, value in options.items() if value is not None}
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        takes = ", ".join(map(repr, accepted)) or "no options"
        raise ValueError(f"option {unknown[0]!r} is not used by schedule {name!r} (it takes {takes})")
    missing = [option for option, required in accepted.items() if required and option not in given]
    if missing:
        raise ValueError(f"option {missing[0]!r} is required by schedule {name!r}")
    select = SCHEDULES[name][0]
    if select is select_fun:
        return Schedule(name, n_units, k, m=given.get("m", 1), first=given.get("first", "top"))
    return Schedule(name, n_units, k, plan=select(check_positive_int("n_units", n_units), **given))


# ------------------------------------------------------------------- Algorithm 1 without a model
def simulate(schedule: Schedule, total_steps: int,
             fisher_fn: FisherTraces | Callable[[int, frozenset[int]], FisherTraces] | None = None
             ) -> list[dict[str, Any]]:
    """The selection records (:meth:`Selection.to_record`) of ``schedule`` over ``total_steps``
    training steps. tr(F), needed for FUN, is a fixed table or ``fisher_fn(step, frozen units)``."""
    if schedule.needs_fisher and fisher_fn is None:
        raise ValueError(f"option 'fisher_fn': schedule {schedule.name!r} needs tr(F) values")
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 0:
        raise ValueError(f"option 'total_steps' must be a non-negative integer, got {total_steps!r}")
    trainable: set[int] = set()
    records: list[dict[str, Any]] = []
    for step in schedule.selection_steps():
        if step >= total_steps:
            break
        fisher = None
        if schedule.needs_fisher_at(step):
            frozen = frozenset(schedule.frozen_units(trainable))
            fisher = fisher_fn(step, frozen) if callable(fisher_fn) else fisher_fn
        selection = schedule.select(step, trainable, fisher)
        trainable.update(selection.units)
        records.append(selection.to_record())
    return records


def unfreeze_steps(records: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """``{unit: step at which it became trainable}`` from selection records (a schedule log)."""
    steps: dict[int, int] = {}
    for record in records:
        for unit in record["units"]:
            if unit in steps:
                raise ValueError(f"unit {unit} is unfrozen twice (steps {steps[unit]} and {record['step']})")
            steps[unit] = record["step"]
    return steps


# ------------------------------------------------------------- checks behind the error messages
def as_int(value: Any) -> int | None:
    """``value`` as a plain int (``operator.index``; a bool is not a count or unit id), else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def check_positive_int(option: str, value: Any) -> int:
    number = as_int(value)
    if number is None or number <= 0:
        raise ValueError(f"option {option!r} must be a positive integer, got {value!r}")
    return number


def check_choice(option: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"option {option!r} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"option 'seed' must be an integer, got {seed!r}")
    return seed


def check_unit_id(option: str, unit: Any, n_units: int) -> int:
    unit_id = as_int(unit)
    if unit_id is None:
        raise ValueError(f"option {option!r}: unit id must be an integer, got {unit!r}")
    if not 0 <= unit_id < n_units:
        raise ValueError(f"option {option!r}: unit id {unit_id} is out of range for n_units={n_units} "
                         f"(valid ids are 0..{n_units - 1})")
    return unit_id


def check_unit_list(option: str, units: Any, n_units: int) -> list[int]:
    """An ordered list of distinct, in-range unit ids, or ``ValueError`` naming ``option``."""
    if isinstance(units, (str, bytes)) or not isinstance(units, Iterable):
        raise ValueError(f"option {option!r} must be a list of unit ids, got {units!r}")
    checked: list[int] = []
    for unit in units:
        unit_id = check_unit_id(option, unit, n_units)
        if unit_id in checked:
            raise ValueError(f"option {option!r}: duplicate unit id {unit_id} in {list(units)!r}")
        checked.append(unit_id)
    return checked


def check_plan(plan: Any, n_units: int) -> tuple[tuple[int, ...], ...]:
    """A plan as tuples of unit ids; a unit appears at most once over all groups."""
    if isinstance(plan, (str, bytes)) or not isinstance(plan, Iterable):
        raise ValueError(f"option 'plan' must be a list of unit groups, got {plan!r}")
    groups = tuple(tuple(check_unit_list("plan", group, n_units)) for group in plan)
    check_unit_list("plan", [unit for group in groups for unit in group], n_units)  # a unit in two groups
    return groups


def check_fisher(fisher: Any, frozen: Sequence[int], n_units: int) -> dict[int, float]:
    """tr(F) as ``{unit: float}``: ids in range, finite values, every frozen unit present."""
    if fisher is None:
        raise ValueError("option 'fisher': the fun schedule needs tr(F) values, pass fisher={unit: trace} "
                         f"covering the frozen units {list(frozen)}")
    if not isinstance(fisher, Mapping):
        raise ValueError(f"option 'fisher' must be a mapping {{unit: trace}}, got {type(fisher).__name__}")
    traces: dict[int, float] = {}
    for unit, value in fisher.items():
        unit_id = check_unit_id("fisher", unit, n_units)
        try:
            traces[unit_id] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"option 'fisher': tr(F) of unit {unit_id} is not a number: {value!r}") from None
        if not math.isfinite(traces[unit_id]):
            raise ValueError(f"option 'fisher': tr(F) of unit {unit_id} must be finite, got {traces[unit_id]}")
    missing = [unit for unit in frozen if unit not in traces]
    if missing:
        raise ValueError(f"option 'fisher': missing tr(F) for frozen unit(s) {missing}")
    return traces
