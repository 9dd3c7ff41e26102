"""How many batches FUN needs: add batches until the arg-max unit is clearly the arg-max.

FUN releases the frozen unit with the largest tr(F) (Algorithm 1). tr(F) is estimated from
batches, so the ranking is noisy; instead of a fixed number of batches we keep adding batches
until the leader is separated from the runner-up with the configured confidence:

    d_i = v_i(leader) - v_i(runner-up)        (paired: the same example i and sampled label)
    t   = mean(d) / (sd(d) / sqrt(n))         one-sided paired t-test of E[d] > 0, n - 1 dof

and stop when t exceeds the Student-t quantile t_{confidence, n-1}, but never before
`min_batches` and never after `max_batches` (paper setting: at most 40 batches). The leader and
runner-up are re-ranked after every batch (by the running means).

The samples v_i are the per-example values ||g_i||^2 when the method is exact: examples (with
their sampled labels) are independent draws, so one batch of 32 already gives the test 31
degrees of freedom. Testing per batch instead would need several batches just to estimate the
spread (the critical t is 6.3 with two batches, 2.4 with four). Algorithm 2 (method "batch")
has only one value per batch, so it is tested per batch, on its own scale (E = tr(F) / |b|^2
with sampled labels; see `trace.py`). That scale does not matter here: t is a ratio of the
differences to their own spread, and the tie rule below compares the gap with a fraction of the
leader's value on the same scale, so both are unchanged when all values are multiplied by a
constant. (Batches of different sizes do put different 1/|b|^2 weights on their differences.)

Near-ties: the closer two units' tr(F) are, the more examples it takes to tell them apart (the
number grows with 1 / gap^2), while for FUN it hardly matters which of two near-equal units goes
first. With `tolerance` > 0 the rule also stops when the gap is confidently small,

    mean(d) + t_{confidence, n-1} * sd(d) / sqrt(n)  <  tolerance * tr(F)(leader),

("tied"), and FUN takes the leader. tolerance = 0 turns this off.

A caveat worth knowing: testing after every batch ("optional stopping") makes a false stop more
likely than 1 - confidence. When the two units are truly tied a false stop is harmless (either
choice is as good); `bonferroni=True` splits 1 - confidence over the possible looks and keeps
the overall error below it, at the price of more batches.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping

import torch
import torch.nn as nn

from .labels import LabelMode
from .trace import BatchEstimator, FisherEstimate, Method, Units, fisher_mode

StopReason = Literal["separated", "tied", "max_batches", "exhausted", "single_unit"]


# --------------------------------------------------------------------------- Student t
def student_t_cdf(t: float, dof: int) -> float:
    """P(T <= t) for Student's t with an integer number of degrees of freedom.

    Closed form for integer dof (Abramowitz & Stegun 26.7.3-4) with theta = atan(t / sqrt(dof)):
    A = P(|T| <= |t|) = (2/pi) (theta + sin(theta) S_odd)  (dof odd),  sin(theta) S_even  (dof even),
    where S is a short series in cos^2(theta).
    """
    if dof < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {dof}")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    theta = math.atan(abs(t) / math.sqrt(dof))
    c2 = math.cos(theta) ** 2
    if dof % 2:
        term = total = math.cos(theta) if dof > 1 else 0.0
        for k in range(3, dof - 1, 2):
            term *= (k - 1) / k * c2
            total += term
        a = 2.0 / math.pi * (theta + math.sin(theta) * total)
    else:
        term = total = 1.0
        for k in range(2, dof - 1, 2):
            term *= (k - 1) / k * c2
            total += term
        a = math.sin(theta) * total
    return 0.5 + 0.5 * a if t >= 0 else 0.5 - 0.5 * a


def student_t_quantile(p: float, dof: int) -> float:
    """The t with P(T <= t) = p, for 0.5 <= p < 1 (bisection on `student_t_cdf`)."""
    if not 0.5 <= p < 1.0:
        raise ValueError(f"p must be in [0.5, 1), got {p}")
    lo, hi = 0.0, 1.0
    while student_t_cdf(hi, dof) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if student_t_cdf(mid, dof) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------- the test
@dataclass(frozen=True)
class Separation:
    """The one-sided paired t-test of "leader has larger tr(F) than runner-up"."""

    leader: int  # the m-th ranked unit: the last one FUN would release now
    runner_up: int  # the (m+1)-th ranked unit
    samples: Literal["examples", "batches"]  # what the n paired differences are
    n: int
    mean_diff: float
    std_err: float
    t: float
    critical: float
    separated: bool
    upper: float  # one-sided upper confidence bound of the gap, mean_diff + critical * std_err
    tied: bool  # upper < tolerance * tr(F)(leader): the gap is confidently negligible

    def to_record(self) -> dict[str, Any]:
        """JSON-ready: an undefined (NaN) or infinite statistic is null (JSON has neither); `n`,
        `separated` and `tied` say which case it was (n < 2: undefined; zero spread: infinite t)."""
        return {k: _finite_or_none(getattr(self, k)) for k in self.__dataclass_fields__}


def _finite_or_none(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def separation(estimate: FisherEstimate, confidence: float = 0.95, m: int = 1, tolerance: float = 0.0) -> Separation:
    """Is the m-th ranked unit's tr(F) larger than the (m+1)-th's, at `confidence`? (module doc)

    Paired differences per example when `estimate` has per-example values (exact methods), else
    per batch. With m > 1 only the boundary pair of the top-m set is tested. A zero spread
    (identical differences) counts as separated iff the mean difference is positive.
    """
    ranking = estimate.ranking()
    if len(ranking) <= m:
        raise ValueError(f"separation needs more than m={m} units, got {len(ranking)}")
    leader, runner_up = ranking[m - 1][0], ranking[m][0]
    samples = "examples" if estimate.example_values else "batches"
    per_sample = estimate.example_values or estimate.batch_values
    d = [a - b for a, b in zip(per_sample[leader], per_sample[runner_up])]
    n = len(d)
    mean = math.fsum(d) / n
    if n < 2:
        return Separation(leader, runner_up, samples, n, mean, math.inf, math.nan, math.inf, False, math.inf, False)
    std_err = math.sqrt(math.fsum((x - mean) ** 2 for x in d) / (n - 1) / n)
    critical = student_t_quantile(confidence, n - 1)
    if std_err > 0:
        t = mean / std_err
    else:
        t = math.inf if mean > 0 else 0.0
    upper = mean + critical * std_err
    tied = upper < tolerance * estimate.values[leader]
    return Separation(leader, runner_up, samples, n, mean, std_err, t, critical, t > critical, upper, tied)


@dataclass(frozen=True)
class StoppingResult:
    """What `estimate_until_separated` found and why it stopped.

    reason: "separated" (the test passed), "tied" (the gap is confidently below the tolerance),
    "max_batches" (budget used up), "exhausted" (the batch iterator ran out first), or
    "single_unit" (at most m units: nothing to separate).
    """

    estimate: FisherEstimate
    reason: StopReason
    test: Separation | None

    @property
    def n_batches(self) -> int:
        return self.estimate.n_batches

    def to_record(self) -> dict[str, Any]:
        return {**self.estimate.to_record(), "reason": self.reason,
                "test": None if self.test is None else self.test.to_record()}


def estimate_until_separated(model: nn.Module, batches: Iterable[Mapping[str, Any]], units: Units, *,
                             max_batches: int = 40, min_batches: int = 1, confidence: float = 0.95,
                             tolerance: float = 0.0, m: int = 1, bonferroni: bool = False,
                             labels: LabelMode = "sample",
                             method: Method = "hooks",
                             generator: torch.Generator | None = None) -> StoppingResult:
    """tr(F) per unit on as many batches as it takes to separate the top unit (see module doc).

    Takes batches from `batches` one at a time: at least `min_batches`, at most `max_batches`.
    The test needs two samples: two examples for the exact methods, two batches for "batch".
    `tolerance`: stop as "tied" when the gap is confidently below this fraction of the leader's
    tr(F) (0: never). `m` is FUN's number of units released at once. All other arguments are as
    in `trace_fisher`, and the model is left untouched in the same way.
    """
    if not 1 <= min_batches <= max_batches:
        raise ValueError(f"need 1 <= min_batches <= max_batches, got min_batches={min_batches}, max_batches={max_batches}")
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence}")
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance}")
    first_look = max(min_batches, 2 if method == "batch" else 1)
    looks = max(1, max_batches - first_look + 1)
    per_look = 1.0 - (1.0 - confidence) / looks if bonferroni else confidence

    estimator = BatchEstimator(model, units, labels, method, generator)
    values: list[dict[int, float]] = []
    sizes: list[int] = []
    examples: list[dict[int, list[float]]] = []
    reason: StopReason = "max_batches"
    test: Separation | None = None
    iterator = iter(batches)

    def so_far() -> FisherEstimate:
        return FisherEstimate.from_batches(values, sizes, estimator.labels, estimator.method, examples)

    with fisher_mode(model, estimator.index.params):
        while len(values) < max_batches:
            batch = next(iterator, None)
            if batch is None:
                reason = "exhausted"
                break
            value, size, per_example = estimator(batch)
            values.append(value)
            sizes.append(size)
            if per_example is not None:
                examples.append(per_example)
            if len(estimator.index.columns) <= m:
                reason = "single_unit"
                break
            if len(values) >= first_look:
                test = separation(so_far(), per_look, m, tolerance)
                if test.separated or test.tied:
                    reason = "separated" if test.separated else "tied"
                    break
    estimate = so_far()
    if test is None and reason != "single_unit" and (estimate.n_examples if examples else estimate.n_batches) >= 2:
        test = separation(estimate, per_look, m, tolerance)
    return StoppingResult(estimate, reason, test)
