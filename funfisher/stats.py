"""Small statistics for comparing schedules over seeds (numpy only, no scipy).

What each function serves in the paper (Liu et al., "FUN with Fisher", NAACL 2024):

=======================  ==========================================================================
`mean`, `sample_std`     Table 1 (and Tables 8-14): "Average ± std" over the 4 runs (seeds); the
                         std is the sample standard deviation (n-1), None for a single seed.
`by_seed`                both, with every seed's value: the entries of report.json.
`paired_bootstrap`       a 95% confidence interval for "schedule A minus standard" on Table 1's
                         cross-lingual average (and per language), resampling seeds and, within
                         each (seed, language), evaluation examples, the same ones for A and B.
`kendall_tau`            Figure 5: how close FUN's unfreezing order is to the top-down order of GU
                         (tau-b: ties, e.g. units released together or never, are allowed).
`spearman`               Section 5.2 / Figure 4: does a tr(F) statistic of a random order (its
                         early area, peak, width) go with that order's cross-lingual score?
`footnote10_groups`      Section 5.2, footnote 10: how the paper aggregates random orders with
                         similar cross-lingual results before plotting them (Figure 4).
`trapezoid_area`         the area under a tr(F) curve over an early window of training (Section
                         5.2: "a wider tr(F) curve ... a large peak tr(F) value during the early
                         phase of learning").
=======================  ==========================================================================

Everything takes plain sequences and returns Python floats (or None where a statistic is not
defined, never NaN: report.json is strict JSON).
"""
from __future__ import annotations

import math
from typing import Any, Hashable, Mapping, Sequence

import numpy as np


# --------------------------------------------------------------------------------------------------
# mean and spread over seeds (Table 1's "±")
# --------------------------------------------------------------------------------------------------
def mean(values: Sequence[float]) -> float | None:
    """The arithmetic mean (`math.fsum`, exactly rounded); None for no values."""
    values = [float(v) for v in values]
    return math.fsum(values) / len(values) if values else None


def sample_std(values: Sequence[float]) -> float | None:
    """The sample standard deviation sqrt(sum((x - mean)^2) / (n - 1)), the "±" of Table 1 over
    seeds. None for fewer than 2 values (one seed says nothing about seed-to-seed spread)."""
    values = [float(v) for v in values]
    if len(values) < 2:
        return None
    m = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))



def by_seed(values: Mapping[int, float | None]) -> dict[str, Any]:
    """A report entry for per-seed values: {"mean", "std", "seeds": {"1": v, ...}}, mean and
    sample std over the values that exist (a seed may have none: None)."""
    present = [v for v in values.values() if v is not None]
    return {"mean": mean(present), "std": sample_std(present),
            "seeds": {str(seed): v for seed, v in values.items()}}

# --------------------------------------------------------------------------------------------------
# paired bootstrap over seeds and evaluation examples
# --------------------------------------------------------------------------------------------------
_CHUNK = 2_000_000  # resampled indices drawn at once (memory: 8 bytes each, twice)


def _resampled_means(rng: np.random.Generator, table: np.ndarray, count: int) -> np.ndarray:
    """`count` bootstrap means of each row of `table` [m, n], one index set (n draws with
    replacement) per replicate shared by all rows: [count, m]. Each replicate's indices become
    counts (how often each example was drawn), and the means a matrix product counts @ table.T / n."""
    n = table.shape[1]
    out = np.empty((count, table.shape[0]))
    rows = max(1, _CHUNK // n)
    for start in range(0, count, rows):
        stop = min(count, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n), dtype=np.int32)
        flat = (idx + (np.arange(stop - start, dtype=np.int64) * n)[:, None]).ravel()
        counts = np.bincount(flat, minlength=(stop - start) * n).reshape(stop - start, n).astype(float)
        out[start:stop] = counts @ table.T / n
    return out


def percentile_interval(replicates: Sequence[float], level: float = 0.95) -> list[float]:
    """The percentile bootstrap interval: the (1-level)/2 and 1-(1-level)/2 quantiles of the
    replicates (numpy's default linear interpolation)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(np.asarray(replicates, dtype=float), [alpha, 1 - alpha])
    return [float(lo), float(hi)]


def paired_bootstrap(differences: Sequence[Sequence[Sequence[float]]], *, n_boot: int = 2000, seed: int = 0,
                     level: float = 0.95, average: Sequence[int] | None = None,
                     shared_examples: bool | Sequence[bool] = False) -> dict[str, Any]:
    """Paired two-stage bootstrap of a mean difference between two schedules (Table 1's
    "Average", schedule A minus standard).

    `differences[s][l]` holds, for paired seed s and language l, the per-example score differences
    score_A(i) - score_B(i) over the evaluation examples i of that language (both runs of seed s
    scored the same examples, in the same order). The statistic is

        per language l:  mean over seeds s of  mean over examples i of d[s][l][i]
        average:         mean over seeds s of  mean over l in `average` of  mean_i d[s][l][i]

    (`average`: indices of the languages in the cross-lingual average, default all). One bootstrap
    replicate draws S seeds with replacement and, per language, example indices with replacement.
    Because the *differences* are resampled, schedule A and B always get the same examples: that
    is the pairing, which removes the (large) variation between examples that both schedules
    share. Seeds and examples are the two sources of noise a re-run of the study would change.

    `shared_examples[l]` (one bool for all languages, or one per language) says how the examples
    of language l relate across seeds:

    * True (crossed: every seed evaluated the same examples in the same order, e.g. a full
      evaluation set): one set of indices per replicate and language, used for every drawn seed,
      so an example that is hard for every seed stays one example.
    * False (nested: each seed has its own examples, e.g. a per-seed subsample): every drawn seed
      (a seed drawn twice: twice) gets its own indices into its own examples.

    Returns {"languages": [{"mean_diff", "ci95"}, ...] (in input order), "average": {"mean_diff",
    "ci95"}, "n_boot", "seed", "level"}; "mean_diff" is the observed statistic, "ci95" the
    percentile interval at `level` of `n_boot` replicates from `numpy.random.default_rng(seed)`
    (drawn in a fixed order: the seeds, then per language the examples). The same seed and shapes
    give the same resampled indices, so every schedule compared with standard over the same runs
    is resampled identically (common random numbers).

    How good is the interval? The percentile interval of a mean is close to nominal with many
    examples (tests/test_stats.py checks its coverage). With the paper's 4 seeds the seed part is
    optimistic (a bootstrap of 4 values sees 4 seed effects and shrinks their variance by
    (S-1)/S), while resampling examples inside resampled seeds counts the example noise somewhat
    twice (it is in the seeds' spread too), which widens it: read the interval as the size of the
    noise, not as an exact 95% statement."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    diffs = [[np.asarray(d, dtype=float) for d in per_seed] for per_seed in differences]
    if not diffs:
        raise ValueError("paired_bootstrap needs at least one seed")
    n_langs = len(diffs[0])
    if n_langs == 0 or any(len(per_seed) != n_langs for per_seed in diffs):
        raise ValueError("every seed needs the same number (>= 1) of languages")
    for s, per_seed in enumerate(diffs):
        for l, d in enumerate(per_seed):
            if d.ndim != 1 or d.size == 0:
                raise ValueError(f"seed {s}, language {l}: need a non-empty 1-D array of differences")
            if not np.all(np.isfinite(d)):
                raise ValueError(f"seed {s}, language {l}: differences must be finite")
    avg = list(range(n_langs)) if average is None else list(average)
    if not avg or any(not 0 <= l < n_langs for l in avg):
        raise ValueError(f"average must list language indices in 0..{n_langs - 1}, got {average!r}")
    shared = [bool(shared_examples)] * n_langs if isinstance(shared_examples, (bool, np.bool_)) else list(shared_examples)
    if len(shared) != n_langs:
        raise ValueError(f"shared_examples: one flag per language ({n_langs}), got {len(shared)}")
    for l in range(n_langs):
        if shared[l] and len({diffs[s][l].size for s in range(len(diffs))}) != 1:
            raise ValueError(f"language {l}: shared examples need the same number of examples for every seed")
    n_seeds = len(diffs)
    observed = np.array([[d.mean() for d in per_seed] for per_seed in diffs])  # [S, L]

    rng = np.random.default_rng(seed)
    seed_draw = rng.integers(0, n_seeds, size=(n_boot, n_seeds))  # [B, S]: which seed fills each slot
    resampled = np.empty((n_boot, n_seeds, n_langs))  # the resampled example mean of each slot
    for l in range(n_langs):
        if shared[l]:  # one index set per replicate, every seed's differences on it
            means = _resampled_means(rng, np.stack([diffs[s][l] for s in range(n_seeds)]), n_boot)  # [B, S]
            resampled[:, :, l] = np.take_along_axis(means, seed_draw, axis=1)
            continue
        for s in range(n_seeds):  # each (replicate, slot) that drew seed s: its own index set
            slots = np.nonzero(seed_draw == s)
            if slots[0].size:
                resampled[slots[0], slots[1], l] = _resampled_means(rng, diffs[s][l][None, :], slots[0].size)[:, 0]
    per_language = resampled.mean(axis=1)  # [B, L]
    average_reps = resampled[:, :, avg].mean(axis=2).mean(axis=1)  # [B]
    languages = [{"mean_diff": float(observed[:, l].mean()), "ci95": percentile_interval(per_language[:, l], level)}
                 for l in range(n_langs)]
    return {
        "languages": languages,
        "average": {"mean_diff": float(observed[:, avg].mean(axis=1).mean()),
                    "ci95": percentile_interval(average_reps, level)},
        "n_boot": n_boot, "seed": seed, "level": level,
    }


# --------------------------------------------------------------------------------------------------
# rank statistics
# --------------------------------------------------------------------------------------------------
def rankdata(values: Sequence[float]) -> list[float]:
    """Ranks 1..n, ties getting the average of the ranks they span (as scipy's "average")."""
    values = [float(v) for v in values]
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b between two rankings (Figure 5: a run's unfreezing order against top-down).

        tau_b = (n_c - n_d) / sqrt((n0 - n_x) (n0 - n_y))

    over the n0 = n(n-1)/2 pairs: n_c concordant, n_d discordant, n_x (n_y) the pairs tied in x
    (in y). Without ties it equals tau-a, (n_c - n_d) / n0: 1 for the same order, -1 for the
    reverse. None when it is undefined (fewer than 2 items, or x or y all tied, e.g. the standard
    schedule, which releases every unit at step 0). Values may be float("inf") (a unit never
    released ranks after every step)."""
    x, y = [float(v) for v in x], [float(v) for v in y]
    if len(x) != len(y):
        raise ValueError(f"kendall_tau needs two sequences of one length, got {len(x)} and {len(y)}")
    n = len(x)
    concordant = discordant = tied_x = tied_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx = (x[i] > x[j]) - (x[i] < x[j])
            dy = (y[i] > y[j]) - (y[i] < y[j])
            if dx == 0:
                tied_x += 1
            if dy == 0:
                tied_y += 1
            if dx and dy:
                if dx == dy:
                    concordant += 1
                else:
                    discordant += 1
    n0 = n * (n - 1) // 2
    denominator = math.sqrt((n0 - tied_x) * (n0 - tied_y))
    return (concordant - discordant) / denominator if denominator > 0 else None


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation: the Pearson correlation of the average ranks (`rankdata`), so
    ties are handled. Section 5.2: a random order's tr(F) statistic against its cross-lingual
    score. None when undefined (fewer than 2 items, or one side constant)."""
    if len(x) != len(y):
        raise ValueError(f"spearman needs two sequences of one length, got {len(x)} and {len(y)}")
    if len(x) < 2:
        return None
    rx, ry = np.array(rankdata(x)), np.array(rankdata(y))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float((rx ** 2).sum() * (ry ** 2).sum()))
    return float((rx * ry).sum() / denominator) if denominator > 0 else None


# --------------------------------------------------------------------------------------------------
# Section 5.2: random orders
# --------------------------------------------------------------------------------------------------
def footnote10_groups(scores: Mapping[Hashable, float], delta: float = 1.0) -> list[list[Hashable]]:
    """The paper's aggregation of random-order runs (Section 5.2, footnote 10): "(i) sorting the
    cross-lingual transfer results, then (ii) taking the largest 'ungrouped' value, (iii) finding
    runs that are within 1 point of performance delta, and then (iv) grouping them."

    Here: repeatedly take the best ungrouped key and group it with every ungrouped key whose score
    is at most `delta` below it (leader - score <= delta). Groups come best first, keys in each
    best first (ties by the keys' order in `scores`)."""
    order = sorted(scores, key=lambda key: -float(scores[key]))  # stable: ties keep the input order
    groups: list[list[Hashable]] = []
    grouped: set = set()
    for leader in order:
        if leader in grouped:
            continue
        top = float(scores[leader])
        group = [key for key in order if key not in grouped and top - float(scores[key]) <= delta + 1e-12]
        grouped.update(group)
        groups.append(group)
    return groups


def trapezoid_area(xs: Sequence[float], ys: Sequence[float], until: float | None = None) -> float | None:
    """The trapezoid-rule area under ys(xs) over the points with x <= `until` (all if None).
    None with fewer than 2 such points (no area to speak of)."""
    points = [(float(x), float(y)) for x, y in zip(xs, ys) if until is None or x <= until]
    points.sort()
    if len(points) < 2:
        return None
    return math.fsum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:]))
