"""Schedules by name, for configs: ``make_schedule("gu", n_units=12, k=50)``."""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .base import Schedule
from .fun import fun
from .permutations import fixed_order, random_order
from .planned import gradual_unfreezing, lpft, reverse_gradual_unfreezing, standard, surgical

#: Every schedule constructor takes ``(n_units, k)`` plus keyword-only options.
SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "standard": standard,
    "lpft": lpft,
    "gu": gradual_unfreezing,
    "revgu": reverse_gradual_unfreezing,
    "random": random_order,
    "fixed": fixed_order,
    "surgical": surgical,
    "fun": fun,
}


def check_schedule_name(name: object) -> str:
    """``name`` if it is registered, else ``ValueError`` listing the valid names."""
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ValueError(f"option 'schedule': unknown schedule {name!r}; valid schedules are {', '.join(SCHEDULES)}")
    return name


def schedule_options(name: str) -> dict[str, bool]:
    """The config options schedule ``name`` accepts, mapped to whether each is required."""
    parameters = inspect.signature(SCHEDULES[check_schedule_name(name)]).parameters.values()
    return {
        parameter.name: parameter.default is inspect.Parameter.empty
        for parameter in parameters
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }


def make_schedule(name: str, n_units: int, k: int, **options: Any) -> Schedule:
    """Build the schedule called ``name`` with ``n_units`` units and interval ``k``.

    ``options`` are the schedule's own settings: ``seed`` (random), ``order`` (fixed),
    ``units`` (surgical), ``m`` (fun). An option whose value is ``None`` counts as not given,
    so a config may carry ``order: null`` for every schedule; any other option the schedule
    does not take is an error rather than silently ignored.
    """
    accepted = schedule_options(name)
    given = {option: value for option, value in options.items() if value is not None}
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        takes = ", ".join(repr(option) for option in accepted) or "no options"
        raise ValueError(
            f"option {unknown[0]!r} is not used by schedule {name!r} (it takes {takes})"
        )
    missing = [option for option, required in accepted.items() if required and option not in given]
    if missing:
        raise ValueError(f"option {missing[0]!r} is required by schedule {name!r}")
    return SCHEDULES[name](n_units, k, **given)
