"""Permutation schedules (paper section 5.2): one unit every k steps, in a given or random order.

Section 5.2 asks whether the top-down order of gradual unfreezing matters by training with
other orders. As in the paper and the authors' released code, the top unit (layer L-1) is
trainable from step 0 and the permutation orders the other L-1 units, released at steps
k, 2k, ..., (L-1)k; the paper's example ``[10, 1, 0, 3, 9, 6, 8, 2, 5, 7, 4]`` (L = 12) is
therefore the fixed order ``[11, 10, 1, 0, 3, 9, 6, 8, 2, 5, 7, 4]`` here. Both schedules are
planned schedules (:class:`~funfisher.schedules.planned.PlannedSchedule`) that release
``order[i]`` at step ``i * k``.

- ``random``: ``first="top"`` (default) keeps the top unit first and shuffles the rest;
  ``first="random"`` shuffles all L units (the top unit may come anywhere).
- ``fixed``: the order must name every unit exactly once; a schedule that trains only some
  units is ``surgical``.

Randomness uses its own ``random.Random(seed)``, never the global RNG, so choosing a schedule
does not shift data shuffling or initialisation.
"""
from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence

from .base import check_choice, check_positive_int, check_unit_list
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


FIRST_RANDOM = ("top", "random")  # random_order's `first`


def random_order(n_units: int, k: int, *, seed: int, first: str = "top") -> PlannedSchedule:
    """Random scheduled unfreezing (the paper's +Rand): one unit every k steps in a random order.

    Algorithm 1 with a SELECT that returns the next unit of an order drawn once, up front, from
    ``random.Random(seed)``. ``first="top"`` (Section 5.2, the released code): the top unit at
    step 0, then a random permutation of units 0..L-2; ``first="random"``: a random permutation
    of all units. The drawn order is part of :meth:`PlannedSchedule.state_dict`, so a resumed
    run continues with the same order.
    """
    n_units = check_positive_int("n_units", n_units)
    if check_choice("first", first, FIRST_RANDOM) == "top":
        order = [n_units - 1] + random_permutation(n_units - 1, seed)
    else:
        order = random_permutation(n_units, seed)
    return PlannedSchedule("random", n_units, k, one_unit_per_step(order))


def fixed_order(n_units: int, k: int, *, order: Sequence[int]) -> PlannedSchedule:
    """A fixed unfreezing order from the config (section 5.2): ``order[i]`` at step ``i * k``.

    ``order`` must list every unit ``0..n_units-1`` exactly once: an order that leaves units out
    would silently never train them, which is the ``surgical`` schedule's job. The paper's
    11-element permutations leave out the top unit because it is trainable from step 0: put it
    first (see the module docstring).
    """
    n_units = check_positive_int("n_units", n_units)
    checked = check_unit_list("order", order, n_units)
    missing = [unit for unit in range(n_units) if unit not in checked]
    if missing:
        top_first = f"[{n_units - 1}, ...]" if n_units - 1 in missing else "the missing units"
        raise ValueError(
            f"option 'order' must list every unit 0..{n_units - 1} once; missing {missing}. "
            f"For the paper's 11-unit permutations put the top unit first ({top_first}); to train "
            f"only some units use the 'surgical' schedule (schedule.units)"
        )
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
