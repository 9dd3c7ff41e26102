"""The stopping rule (add batches until the top unit is separated), Student t, and tracking."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from funfisher.fisher import (FisherEstimate, batch_trace, estimate_until_separated, mean_trace, separation,
                              tracking_record, tracking_values)
from funfisher.fisher.stopping import student_t_cdf, student_t_quantile
from funfisher.model.config import EncoderConfig
from funfisher.model.encoder import Encoder
from funfisher.model.heads import TaskModel, build_head

CFG = EncoderConfig(arch="bert", vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                    intermediate_size=32, max_position_embeddings=40, type_vocab_size=2, layer_norm_eps=1e-12,
                    pad_token_id=0, initializer_range=0.2)


class TestAdapter(nn.Module):
    __test__ = False

    def __init__(self, hidden: int, bottleneck: int):
        super().__init__()
        self.down, self.up = nn.Linear(hidden, bottleneck), nn.Linear(bottleneck, hidden)

    def forward(self, h, residual, layer_norm):
        z = h + residual
        return layer_norm(self.up(torch.relu(self.down(z))) + z)


def tiny_classifier(seed: int = 0) -> tuple[TaskModel, dict[int, list[nn.Parameter]]]:
    torch.manual_seed(seed)
    encoder = Encoder(CFG)
    units = {}
    for j, layer in enumerate(encoder.layers):
        layer.ffn.adapter = TestAdapter(CFG.hidden_size, 4)
        units[j] = list(layer.ffn.adapter.parameters())
        for p in units[j]:
            nn.init.normal_(p, std=0.3)
    model = TaskModel(encoder, build_head(CFG, "classification", 3), "classification").double()
    model.requires_grad_(False)
    return model, units


def batches(n: int, size: int = 8, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        lengths = torch.randint(2, 9, (size,), generator=g)
        mask = (torch.arange(8)[None] < lengths[:, None]).long()
        yield {"input_ids": torch.randint(1, 50, (size, 8), generator=g) * mask, "attention_mask": mask,
               "token_type_ids": torch.zeros_like(mask), "labels": torch.randint(0, 3, (size,), generator=g)}


# --------------------------------------------------------------------------- Student t
@pytest.mark.parametrize("p, dof, expected", [
    (0.95, 1, 6.313752), (0.975, 1, 12.706205), (0.95, 2, 2.919986), (0.95, 3, 2.353363), (0.95, 4, 2.131847),
    (0.95, 9, 1.833113), (0.95, 10, 1.812461), (0.99, 39, 2.425841), (0.975, 30, 2.042272),
])
def test_student_t_quantiles_match_tables(p, dof, expected):
    assert student_t_quantile(p, dof) == pytest.approx(expected, abs=2e-6)
    assert student_t_cdf(expected, dof) == pytest.approx(p, abs=1e-6)
    assert student_t_cdf(-expected, dof) == pytest.approx(1 - p, abs=1e-6)


# --------------------------------------------------------------------------- the test itself
def estimate(per_batch: dict[int, list[float]]) -> FisherEstimate:
    n = len(next(iter(per_batch.values())))
    return FisherEstimate.from_batches([{u: v[b] for u, v in per_batch.items()} for b in range(n)], [4] * n,
                                       "sample", "hooks")


def test_separation_on_synthetic_values():
    clear = separation(estimate({0: [1.0, 1.1, 0.9, 1.05, 0.95], 1: [2.0, 2.2, 1.9, 2.1, 2.0], 2: [0.1] * 5}))
    assert (clear.leader, clear.runner_up, clear.n) == (1, 0, 5) and clear.separated
    assert clear.critical == pytest.approx(2.131847, abs=1e-5)
    tied = separation(estimate({0: [1.0, 2.0, 1.0, 2.0], 1: [2.0, 1.0, 2.0, 1.0]}))
    assert not tied.separated and tied.mean_diff == 0.0
    constant = separation(estimate({0: [1.0, 2.0], 1: [1.0, 2.0]}))
    assert not constant.separated and constant.t == 0.0
    shifted = separation(estimate({0: [1.0, 2.0], 1: [1.5, 2.5]}))
    assert shifted.separated and shifted.t == math.inf and shifted.leader == 1
    top2 = separation(estimate({0: [3.0, 3.1, 2.9], 1: [2.0, 2.1, 1.9], 2: [1.0, 1.0, 1.0]}), m=2)
    assert (top2.leader, top2.runner_up) == (1, 2) and top2.separated
    assert clear.samples == "batches"  # no per-example values in these estimates


def test_separation_uses_per_example_differences_when_available():
    """Two batches of 4 examples: the paired test has 8 - 1 = 7 degrees of freedom, not 2 - 1."""
    examples = [{0: [1.0, 2.0, 3.0, 4.0], 1: [1.5, 2.4, 3.6, 4.5]}, {0: [2.0, 1.0, 5.0, 3.0], 1: [2.6, 1.5, 5.4, 3.5]}]
    batch_means = [{u: sum(v) / 4 for u, v in ev.items()} for ev in examples]
    est = FisherEstimate.from_batches(batch_means, [4, 4], "sample", "hooks", examples)
    test = separation(est)
    d = [0.5, 0.4, 0.6, 0.5, 0.6, 0.5, 0.4, 0.5]
    mean = sum(d) / 8
    se = math.sqrt(sum((x - mean) ** 2 for x in d) / 7 / 8)
    assert (test.samples, test.n, test.leader, test.runner_up) == ("examples", 8, 1, 0)
    assert test.mean_diff == pytest.approx(mean, rel=1e-12) and test.std_err == pytest.approx(se, rel=1e-12)
    assert test.critical == pytest.approx(1.894579, abs=1e-5)  # t_{0.95, 7}
    assert test.separated and test.upper == pytest.approx(mean + test.critical * se, rel=1e-12)


def test_tied_means_the_gap_is_confidently_below_the_tolerance():
    """Leader 10.0 on average, runner-up 0.1 below it. With +-0.3 of noise on the differences, 8
    examples cannot separate them, but the upper bound of the gap (about 0.31) is below 5% of
    10.0 = 0.5, so at tolerance 0.05 they are tied."""
    lead = [9.0, 11.0, 10.5, 9.5, 10.2, 9.8, 10.1, 9.9]
    gaps = [0.05, 0.15, 0.08, 0.12, 0.1, 0.1, 0.2, 0.0]
    examples = [{0: lead, 1: [a - g for a, g in zip(lead, gaps)]}]
    est = FisherEstimate.from_batches([{u: sum(v) / 8 for u, v in examples[0].items()}], [8], "sample", "hooks",
                                      examples)
    strict = separation(est)
    assert strict.separated  # every gap >= 0 and the spread is small: 0.1 is significant here ...
    noisy = [{0: lead, 1: [a - g + (0.3 if i % 2 else -0.3) for i, (a, g) in enumerate(zip(lead, gaps))]}]
    est = FisherEstimate.from_batches([{u: sum(v) / 8 for u, v in noisy[0].items()}], [8], "sample", "hooks", noisy)
    off, on = separation(est), separation(est, tolerance=0.05)
    assert not off.separated and not off.tied  # ... but not with +-0.3 of noise on the runner-up
    assert on.tied and on.upper < 0.05 * est.values[0]
    assert not separation(est, tolerance=0.001).tied


# --------------------------------------------------------------------------- the stopping rule
def test_clearly_separated_units_stop_at_min_batches():
    model, units = tiny_classifier()
    # unit 1 holds everything unit 0 holds plus the rest of layer 2's adapter: larger on every batch
    clear = {0: units[2][:1], 1: units[2]}
    result = estimate_until_separated(model, batches(40), clear, min_batches=4, max_batches=40,
                                      generator=torch.Generator().manual_seed(0))
    assert result.reason == "separated" and result.n_batches == 4
    assert (result.test.leader, result.test.runner_up) == (1, 0)
    assert result.estimate.ranking()[0][0] == 1
    assert set(result.to_record()) >= {"values", "reason", "test", "n_batches"}


def test_identical_units_run_to_max_batches():
    model, units = tiny_classifier()
    same = {0: units[1], 1: units[1]}
    result = estimate_until_separated(model, batches(100), same, min_batches=3, max_batches=9,
                                      generator=torch.Generator().manual_seed(0))
    assert result.reason == "max_batches" and result.n_batches == 9
    assert not result.test.separated and result.test.n == 9 * 8 and result.test.samples == "examples"
    # the same tie with a tolerance stops at min_batches: the gap is exactly 0 on every example
    tied = estimate_until_separated(model, batches(100), same, min_batches=3, max_batches=9, tolerance=0.05,
                                    generator=torch.Generator().manual_seed(0))
    assert tied.reason == "tied" and tied.n_batches == 3 and tied.test.tied and tied.test.upper == 0.0


def test_other_stop_reasons_and_arguments():
    model, units = tiny_classifier()
    same = {0: units[1], 1: units[1]}
    short = estimate_until_separated(model, batches(3), same, min_batches=2, max_batches=10)
    assert short.reason == "exhausted" and short.n_batches == 3 and short.test is not None
    single = estimate_until_separated(model, batches(10), {2: units[2]})
    assert single.reason == "single_unit" and single.n_batches == 1 and single.test is None
    with pytest.raises(ValueError, match="min_batches"):
        estimate_until_separated(model, batches(3), same, min_batches=0)
    one = estimate_until_separated(model, batches(3), same, min_batches=1, max_batches=1)
    assert one.reason == "max_batches" and one.n_batches == 1 and one.test.n == 8  # 8 examples: testable
    reference = estimate_until_separated(model, batches(3), same, min_batches=1, max_batches=1, method="batch")
    assert reference.test is None  # Algorithm 2 has one value per batch: a test needs two batches
    with pytest.raises(ValueError, match="confidence"):
        estimate_until_separated(model, batches(3), same, confidence=1.0)
    with pytest.raises(ValueError, match="tolerance"):
        estimate_until_separated(model, batches(3), same, tolerance=1.5)


def test_algorithm_2_is_tested_per_batch_and_the_rule_is_scale_free():
    """method="batch" (Algorithm 2, values ~ tr(F) / |b|^2): one sample per batch, the estimate is
    the plain mean of the batch values, and t / the tie rule do not change when every value is
    multiplied by a constant (e.g. 1 / |b|^2 = 1 / 64 for batches of 8)."""
    model, units = tiny_classifier()
    clear = {0: units[2][:1], 1: units[2]}  # unit 1 is a superset of unit 0: larger on every batch
    result = estimate_until_separated(model, batches(40), clear, min_batches=1, max_batches=40, method="batch",
                                      generator=torch.Generator().manual_seed(0))
    est = result.estimate
    assert result.reason == "separated" and result.n_batches >= 2  # the first look needs two batches
    assert result.test.samples == "batches" and result.test.n == result.n_batches
    assert result.test.t > result.test.critical and (result.test.leader, result.test.runner_up) == (1, 0)
    assert all(a > b for a, b in zip(est.batch_values[1], est.batch_values[0]))
    assert est.example_values == {} and est.method == "batch"
    for u in clear:
        assert est.values[u] == pytest.approx(sum(est.batch_values[u]) / est.n_batches, rel=1e-12)

    per_batch = {0: [9.0, 11.0, 10.5, 9.5], 1: [8.7, 11.2, 10.1, 9.6]}
    for tolerance in (0.0, 0.05):
        base = separation(estimate(per_batch), tolerance=tolerance)
        scaled = separation(estimate({u: [v / 64 for v in vs] for u, vs in per_batch.items()}), tolerance=tolerance)
        assert (scaled.separated, scaled.tied, scaled.leader) == (base.separated, base.tied, base.leader)
        assert scaled.t == pytest.approx(base.t, rel=1e-12)
    assert separation(estimate(per_batch), tolerance=0.05).tied  # the case above is a real tie


def test_bonferroni_makes_the_test_stricter_and_stopping_changes_nothing():
    model, units = tiny_classifier()
    model.train()
    rng = torch.get_rng_state()
    args = dict(min_batches=3, max_batches=6, generator=torch.Generator().manual_seed(0))
    plain = estimate_until_separated(model, batches(10), units, **args)
    args["generator"] = torch.Generator().manual_seed(0)
    strict = estimate_until_separated(model, batches(10), units, bonferroni=True, **args)
    assert strict.test.critical > plain.test.critical
    assert model.training and all(not p.requires_grad for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)


# --------------------------------------------------------------------------- tracking
def test_tracking_values_and_mean_over_trainable_units():
    model, units = tiny_classifier()
    model.train()
    batch = next(batches(1))
    values = tracking_values(model, batch, units, torch.Generator().manual_seed(3))
    assert values == batch_trace(model, batch, units, generator=torch.Generator().manual_seed(3))
    assert model.training
    assert mean_trace(values, [1, 2]) == pytest.approx((values[1] + values[2]) / 2)
    assert math.isnan(mean_trace(values, []))
    record = tracking_record(100, values, {2, 1})
    assert record["trainable"] == [1, 2] and record["mean_trainable"] == mean_trace(values, [1, 2])
    assert set(record["values"]) == {"0", "1", "2"}
