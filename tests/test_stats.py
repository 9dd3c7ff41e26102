"""funfisher.stats: known values (small hand-computed cases) and a coverage check of the bootstrap."""
from __future__ import annotations

import math

import numpy as np
import pytest

from funfisher import stats


def test_mean_and_sample_std():
    assert stats.mean([1, 2, 3, 4]) == 2.5
    assert stats.sample_std([1, 2, 3, 4]) == pytest.approx(math.sqrt(5 / 3))  # sum of squares 5, n-1 = 3
    assert stats.sample_std([2.0, 2.0]) == 0.0
    assert stats.sample_std([7.0]) is None  # one seed: no spread
    assert stats.mean([]) is None and stats.sample_std([]) is None


def test_rankdata_averages_ties():
    assert stats.rankdata([3, 1, 2, 2]) == [4.0, 1.0, 2.5, 2.5]
    assert stats.rankdata([]) == []


def test_kendall_tau_known_values():
    assert stats.kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert stats.kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # one swapped pair: 5 concordant, 1 discordant of 6
    assert stats.kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # tau-b with a tie in x: pair (0, 1) tied, the other 5 concordant: 5 / sqrt((6 - 1) * 6)
    assert stats.kendall_tau([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(5 / math.sqrt(30))
    # a unit never released (inf) ranks last, tied with the other never-released unit
    assert stats.kendall_tau([0, math.inf, math.inf], [0, 1, 2]) == pytest.approx(2 / math.sqrt(6))
    assert stats.kendall_tau([0, 0, 0], [0, 1, 2]) is None  # standard: everything at step 0
    assert stats.kendall_tau([1], [1]) is None
    with pytest.raises(ValueError):
        stats.kendall_tau([1, 2], [1])


def test_spearman_known_values():
    assert stats.spearman([1, 2, 3], [5, 6, 100]) == pytest.approx(1.0)
    # d = (-1, 1, -1, 1, 0): 1 - 6 * 4 / (5 * 24)
    assert stats.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    # ties: Pearson of ranks (1, 2.5, 2.5, 4) and (1, 2, 3, 4) = 4.5 / sqrt(4.5 * 5)
    assert stats.spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert stats.spearman([1, 1, 1], [1, 2, 3]) is None
    assert stats.spearman([1], [2]) is None


def test_footnote10_groups():
    scores = {"a": 60.0, "b": 59.5, "c": 59.0, "d": 58.9, "e": 55.0}
    # a leads; b (0.5 below) and c (exactly 1 below) join; d is 1.1 below a: its own group
    assert stats.footnote10_groups(scores) == [["a", "b", "c"], ["d"], ["e"]]
    assert stats.footnote10_groups({}) == []
    assert stats.footnote10_groups({"x": 1.0, "y": 3.0}, delta=5) == [["y", "x"]]


def test_trapezoid_area():
    assert stats.trapezoid_area([0, 1, 2], [0, 2, 2]) == 3.0
    assert stats.trapezoid_area([0, 1, 2], [0, 2, 2], until=1) == 1.0
    assert stats.trapezoid_area([2, 0, 1], [2, 0, 2]) == 3.0  # any order of points
    assert stats.trapezoid_area([0, 5], [1, 1], until=4) is None  # one point left


def test_percentile_interval():
    assert stats.percentile_interval(list(range(101)), 0.9) == pytest.approx([5.0, 95.0])
    with pytest.raises(ValueError):
        stats.percentile_interval([1.0], 1.0)


@pytest.mark.parametrize("shared", [False, True])
def test_bootstrap_of_a_constant_difference_is_that_constant(shared):
    diffs = [[np.full(50, 2.5), np.full(50, 2.5)] for _ in range(3)]
    out = stats.paired_bootstrap(diffs, n_boot=300, seed=1, shared_examples=shared)
    assert out["average"]["mean_diff"] == pytest.approx(2.5, abs=1e-12)
    assert out["average"]["ci95"] == pytest.approx([2.5, 2.5], abs=1e-12)
    for lang in out["languages"]:
        assert lang["ci95"] == pytest.approx([2.5, 2.5], abs=1e-12)


def test_bootstrap_known_small_cases():
    # one seed, two examples with differences 0 and 100: a replicate's mean is 0, 50 or 100 with
    # probabilities 1/4, 1/2, 1/4, so the 2.5% and 97.5% quantiles are 0 and 100
    out = stats.paired_bootstrap([[[0.0, 100.0]]], n_boot=4000, seed=0)
    assert out["average"]["mean_diff"] == 50.0 and out["average"]["ci95"] == [0.0, 100.0]
    # two seeds, each with a constant difference (1 and 3): resampling seeds gives 1, 2 or 3
    out = stats.paired_bootstrap([[np.full(10, 1.0)], [np.full(10, 3.0)]], n_boot=4000, seed=0)
    assert out["average"]["mean_diff"] == 2.0
    assert out["average"]["ci95"] == pytest.approx([1.0, 3.0])


def test_bootstrap_average_over_chosen_languages_and_determinism():
    diffs = [[np.full(5, 1.0), np.full(5, 3.0), np.array([0.0, 10.0, 0.0, 10.0, 5.0])]] * 2
    out = stats.paired_bootstrap(diffs, n_boot=200, seed=3, average=[1])
    assert out["average"]["mean_diff"] == 3.0 and out["average"]["ci95"] == pytest.approx([3.0, 3.0])
    assert [lang["mean_diff"] for lang in out["languages"]] == [1.0, 3.0, 5.0]
    every = stats.paired_bootstrap(diffs, n_boot=200, seed=3)
    assert every["average"]["mean_diff"] == pytest.approx(3.0)  # (1 + 3 + 5) / 3
    again = stats.paired_bootstrap(diffs, n_boot=200, seed=3)
    assert again == every  # fixed seed: the same interval
    other = stats.paired_bootstrap(diffs, n_boot=200, seed=4)
    assert other["languages"][2]["ci95"] != every["languages"][2]["ci95"]
    assert every["n_boot"] == 200 and every["seed"] == 3


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError):
        stats.paired_bootstrap([], n_boot=10)
    with pytest.raises(ValueError):
        stats.paired_bootstrap([[[1.0]], [[1.0], [2.0]]], n_boot=10)  # languages differ per seed
    with pytest.raises(ValueError):
        stats.paired_bootstrap([[[math.nan]]], n_boot=10)
    with pytest.raises(ValueError):
        stats.paired_bootstrap([[[1.0]]], n_boot=0)
    with pytest.raises(ValueError):
        stats.paired_bootstrap([[[1.0, 2.0]], [[1.0]]], n_boot=10, shared_examples=True)


def test_bootstrap_coverage_on_a_synthetic_case():
    """Percentile intervals of a mean difference cover the true difference about 95% of the time
    (one seed, 80 examples of a skewed per-example difference, 300 independent data sets)."""
    rng = np.random.default_rng(12345)
    true_diff, covered, trials = 100 * (0.30 - 0.20), 0, 300
    for trial in range(trials):
        # per example: A right and standard wrong (+100) w.p. 0.30, the reverse (-100) w.p. 0.20
        u = rng.random(80)
        d = np.where(u < 0.30, 100.0, np.where(u < 0.50, -100.0, 0.0))
        lo, hi = stats.paired_bootstrap([[d]], n_boot=400, seed=trial)["average"]["ci95"]
        covered += lo <= true_diff <= hi
    assert 0.90 <= covered / trials <= 0.99


def test_bootstrap_shared_examples_keep_example_effects_together():
    """Crossed design: the same examples for every seed, with a large per-example effect that both
    seeds share. Resampling one index set per replicate keeps it one effect; the interval is
    then wider than treating the seeds' examples as independent draws."""
    rng = np.random.default_rng(7)
    example_effect = rng.normal(0, 10, 200)
    diffs = [[example_effect + rng.normal(0, 1, 200)] for _ in range(4)]
    shared = stats.paired_bootstrap(diffs, n_boot=500, seed=0, shared_examples=True)["average"]["ci95"]
    nested = stats.paired_bootstrap(diffs, n_boot=500, seed=0, shared_examples=False)["average"]["ci95"]
    assert (shared[1] - shared[0]) > 1.5 * (nested[1] - nested[0])
