"""Scheduled unfreezing of task adapters: the SELECT functions of the paper's Algorithm 1.

A model has ``n_units`` units (unit id = layer index; e.g. the task adapter of each layer). At
steps 0, k, 2k, ... a schedule's SELECT returns the units to add to the trainable set; nothing
is ever re-frozen. Usage in a training loop::

    from funfisher.schedules import make_schedule

    schedule = make_schedule("fun", n_units=12, k=50, m=1)
    trainable: set[int] = set()
    for step in range(total_steps):
        if schedule.is_selection_step(step):
            fisher = estimate(schedule.frozen_units(trainable)) if schedule.needs_fisher_at(step) else None
            selection = schedule.select(step, trainable, fisher)
            trainable |= set(selection.units)
            log.append(selection.to_record())   # {"step", "units"} (+ "ranking" for FUN)
        ...

Schedules (``SCHEDULES``): standard, lpft, gu, revgu, random, fixed, surgical, fun.
"""
from .base import FisherTraces, Schedule, Selection
from .fun import FisherSchedule, fun, rank_by_fisher, select_by_fisher
from .permutations import fixed_order, random_order, random_permutation, sample_permutations
from .planned import (
    PlannedSchedule,
    gradual_unfreezing,
    lpft,
    reverse_gradual_unfreezing,
    select_planned,
    standard,
    surgical,
)
from .registry import SCHEDULES, make_schedule, schedule_options
from .simulate import simulate, unfreeze_steps

__all__ = [
    "SCHEDULES",
    "FisherSchedule",
    "FisherTraces",
    "PlannedSchedule",
    "Schedule",
    "Selection",
    "fixed_order",
    "fun",
    "gradual_unfreezing",
    "lpft",
    "make_schedule",
    "random_order",
    "random_permutation",
    "rank_by_fisher",
    "reverse_gradual_unfreezing",
    "sample_permutations",
    "schedule_options",
    "select_by_fisher",
    "select_planned",
    "simulate",
    "standard",
    "surgical",
    "unfreeze_steps",
]
