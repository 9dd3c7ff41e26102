"""Permutation schedules (paper section 5.2): one unit every k steps, in a given or random order.

Section 5.2 asks whether the top-down order of gradual unfreezing matters by training with
other orders: random orders and fixed permutations that start near the top, e.g.
``[10, 1, 0, 3, 9, 6, 8, 2, 5, 7, 4]``. Both are planned schedules
(:class:`~funfisher.schedules.planned.PlannedSchedule`) that release ``order[i]`` at step
``i * k``.

Randomness uses its own ``random.Random(seed)``, never the global RNG, so choosing a schedule
does not shift data shuffling or initialisation.

Note on the paper's 11-element permutations: in the authors' released code the top adapter
(layer 11 of a 12-layer encoder) is trainable from the start and the listed permutation of
layers 0..10 is released at steps k, 2k, ..., 11k. To reproduce that with this module, put the
top unit first: ``fixed_order(12, k, order=[11, 10, 1, 0, 3, 9, 6, 8, 2, 5, 7, 4])``; and
sample with ``[11] + p for p in sample_permutations(11, count, seed=...)``.
"""
from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence

from .base import check_positive_int, check_unit_list
from .planned import PlannedSchedule, one_unit_per_step


def check_seed(seed: object) -> int:
    """The seed as a plain int, or ``ValueError`` naming the option."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"option 'seed' must be an integer, got {seed!r}")
    return seed


def random_permutation(n_units: int, seed: int) -> list[int]:
    """A uniformly random order of ``0..n_units-1`` from a private ``random.Random(seed)``."""
    order = list(range(n_units))
    random.Random(check_seed(seed)).shuffle(order)
    return order


def random_order(n_units: int, k: int, *, seed: int) -> PlannedSchedule:
    """Random scheduled unfreezing: a random order of all units, one every k steps from step 0.

    Algorithm 1 with a SELECT that returns the next unit of an order drawn once, up front, from
    ``random.Random(seed)``. The drawn order is part of :meth:`PlannedSchedule.state_dict`, so a
    resumed run continues with the same order.
    """
    n_units = check_positive_int("n_units", n_units)
    return PlannedSchedule("random", n_units, k, one_unit_per_step(random_permutation(n_units, seed)))


def fixed_order(n_units: int, k: int, *, order: Sequence[int]) -> PlannedSchedule:
    """A fixed unfreezing order from the config (section 5.2): ``order[i]`` at step ``i * k``.

    ``order`` must be a non-empty list of distinct unit ids in ``0..n_units-1``. It need not
    list every unit: units missing from it are never unfrozen (the schedule then has only
    ``len(order)`` selection steps). See the module docstring for the paper's 11-element
    permutations.
    """
    n_units = check_positive_int("n_units", n_units)
    checked = check_unit_list("order", order, n_units)
    if not checked:
        raise ValueError("option 'order' must list at least one unit for the fixed schedule")
    return PlannedSchedule("fixed", n_units, k, one_unit_per_step(checked))


def sample_permutations(
    n_units: int,
    count: int,
    *,
    first_in: Iterable[int] | None = None,
    seed: int = 0,
) -> list[list[int]]:
    """``count`` distinct random permutations of ``0..n_units-1`` whose first unit is in ``first_in``.

    Section 5.2 samples unfreezing orders that start with the top or second-top layer; the
    default ``first_in`` is therefore ``(n_units - 1, n_units - 2)``. Each permutation is
    uniform among the allowed ones (a uniform first unit from ``first_in``, then a uniform
    shuffle of the rest); duplicates are re-drawn. Uses a private ``random.Random(seed)``.

    Raises:
        ValueError: if ``count`` exceeds the number of allowed permutations
            (``len(first_in) * (n_units - 1)!``), or an option is invalid.
    """
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
        raise ValueError(
            f"option 'count': asked for {count} distinct permutations but only {available} "
            f"start with a unit in {firsts} (n_units={n_units})"
        )

    rng = random.Random(check_seed(seed))
    drawn: list[list[int]] = []
    seen: set[tuple[int, ...]] = set()
    while len(drawn) < count:
        first = rng.choice(firsts)
        rest = [unit for unit in range(n_units) if unit != first]
        rng.shuffle(rest)
        permutation = (first, *rest)
        if permutation not in seen:
            seen.add(permutation)
            drawn.append(list(permutation))
    return drawn
