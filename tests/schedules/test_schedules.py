"""Tests of the unfreezing schedules (Algorithm 1's SELECT functions) without a model."""
from __future__ import annotations

import json
import random

import pytest

from funfisher.schedules import (
    SCHEDULES,
    Schedule,
    Selection,
    make_schedule,
    rank_by_fisher,
    sample_permutations,
    schedule_options,
    select_fun,
    simulate,
    unfreeze_steps,
)

L, K = 12, 50
ALL = list(range(L))
#: The options each schedule needs in these tests.
OPTIONS = {
    "random": {"seed": 13},
    "fixed": {"order": [11, 10, 1, 0, 3, 9, 6, 8, 2, 5, 7, 4]},
    "surgical": {"units": [9, 2, 5]},
    "fun": {"m": 1},
}
#: A tr(F) table without ties: unit u has trace TRACES[u].
TRACES = {0: 0.5, 1: 3.0, 2: 0.1, 3: 7.0, 4: 2.0, 5: 0.7, 6: 9.0, 7: 1.0, 8: 4.0, 9: 0.2, 10: 8.0, 11: 6.0}


def build(name: str, **overrides):
    return make_schedule(name, n_units=L, k=K, **{**OPTIONS.get(name, {}), **overrides})


def run(schedule, total_steps: int = 10_000, fisher_fn=TRACES):
    return simulate(schedule, total_steps, fisher_fn=fisher_fn if schedule.needs_fisher else None)


#: TRACES ranked (no ties), and the same without the top unit 11 (FUN's default starts with it).
RANKED = [6, 10, 3, 11, 8, 1, 4, 7, 5, 0, 9, 2]
RANKED_BELOW_TOP = [u for u in RANKED if u != L - 1]


def steps_and_units(records):
    return [(record["step"], record["units"]) for record in records]


def one_per_step(order):
    return [(index * K, [unit]) for index, unit in enumerate(order)]


# ------------------------------------------------------------------ realized schedules, L=12 k=50
def test_registry_names():
    assert set(SCHEDULES) == {"standard", "lpft", "gu", "revgu", "random", "fun", "surgical", "fixed"}


def test_standard_releases_everything_at_step_0():
    assert steps_and_units(run(build("standard"))) == [(0, ALL)]


def test_lpft_is_head_only_then_everything_at_k():
    assert steps_and_units(run(build("lpft"))) == [(0, []), (50, ALL)]


def test_gu_is_top_down_one_unit_every_k_steps():
    expected = [(0, [11]), (50, [10]), (100, [9]), (150, [8]), (200, [7]), (250, [6]),
                (300, [5]), (350, [4]), (400, [3]), (450, [2]), (500, [1]), (550, [0])]
    assert steps_and_units(run(build("gu"))) == expected


def test_gu_unfreezes_second_top_unit_at_step_k():
    schedule = build("gu")
    assert schedule.select(0).units == (L - 1,)
    assert schedule.select(K, trainable={L - 1}).units == (L - 2,)


def test_revgu_is_bottom_up():
    assert steps_and_units(run(build("revgu"))) == one_per_step(range(L))


def test_fixed_follows_the_configured_order():
    order = OPTIONS["fixed"]["order"]
    assert steps_and_units(run(build("fixed"))) == one_per_step(order)


def test_surgical_releases_its_subset_at_step_0_only():
    assert steps_and_units(run(build("surgical"))) == [(0, [2, 5, 9])]


@pytest.mark.parametrize("first", ["top", "random"])
def test_random_is_a_permutation_one_unit_every_k_steps(first):
    schedule = build("random", first=first)
    records = run(schedule)
    assert [record["step"] for record in records] == [i * K for i in range(L)]
    assert all(len(record["units"]) == 1 for record in records)
    order = [record["units"][0] for record in records]
    assert sorted(order) == ALL
    assert order == [group[0] for group in schedule.state_dict()["plan"]]


def test_random_starts_with_the_top_unit_by_default():
    # Section 5.2 and the released code: layer L-1 trains from step 0, the permutation orders 0..L-2.
    tops = {run(build("random", seed=seed))[0]["units"][0] for seed in range(20)}
    assert tops == {L - 1}
    # first="random": over 20 seeds the first unit is not always the top one
    assert len({run(build("random", seed=seed, first="random"))[0]["units"][0] for seed in range(20)}) > 1
    assert build("random").state_dict()["plan"][0] == [L - 1]


def test_fun_follows_the_trace_ranking():
    assert sorted(TRACES, key=TRACES.get, reverse=True) == RANKED  # no ties in TRACES
    # default first="top": unit 11 at step 0 without tr(F), then tr(F) decides from step k on
    assert steps_and_units(run(build("fun"))) == one_per_step([L - 1] + RANKED_BELOW_TOP)
    # first="fisher": tr(F) decides step 0 as well
    assert steps_and_units(run(build("fun", first="fisher"))) == one_per_step(RANKED)


def test_fun_asks_for_traces_from_step_k_by_default():
    calls = []

    def fisher_fn(step, frozen):
        calls.append(step)
        return TRACES

    schedule = build("fun")
    run(schedule, fisher_fn=fisher_fn)
    assert calls == [i * K for i in range(1, L)]  # 11 tr(F) decisions, the first at step k
    assert not schedule.needs_fisher_at(0) and schedule.needs_fisher_at(K)
    assert build("fun", first="fisher").needs_fisher_at(0)
    assert schedule.select(0) == Selection(step=0, units=(L - 1,))  # no traces needed at step 0


def test_first_is_validated():
    with pytest.raises(ValueError, match="option 'first' must be one of 'top', 'fisher'"):
        build("fun", first="random")
    with pytest.raises(ValueError, match="option 'first' must be one of 'top', 'random'"):
        build("random", first="fisher")
    with pytest.raises(ValueError, match="option 'first' is not used by schedule 'gu'"):
        build("gu", first="top")


def test_records_are_json_ready_and_fun_records_carry_the_ranking():
    fun_records = run(build("fun", first="fisher"))
    assert json.loads(json.dumps(fun_records)) == fun_records
    first = fun_records[0]
    assert [entry["unit"] for entry in first["ranking"]] == RANKED
    assert first["ranking"][0] == {"unit": 6, "trace": 9.0}
    assert len(fun_records[1]["ranking"]) == L - 1  # only the units frozen at that step
    top_first = run(build("fun"))
    assert "ranking" not in top_first[0]  # step 0 released the top unit without tr(F)
    assert [entry["unit"] for entry in top_first[1]["ranking"]] == RANKED_BELOW_TOP
    assert "ranking" not in run(build("gu"))[0]


def test_simulate_stops_at_total_steps():
    assert steps_and_units(run(build("gu"), total_steps=101)) == [(0, [11]), (50, [10]), (100, [9])]
    assert run(build("gu"), total_steps=0) == []


# ------------------------------------------------------------------------- selection steps
def test_is_selection_step_per_schedule():
    gu = build("gu")
    assert [s for s in range(-K, 1000) if gu.is_selection_step(s)] == [i * K for i in range(L)]
    lpft = build("lpft")
    assert [s for s in range(1000) if lpft.is_selection_step(s)] == [0, 50]
    assert [s for s in range(1000) if build("standard").is_selection_step(s)] == [0]
    assert [s for s in range(1000) if build("surgical").is_selection_step(s)] == [0]
    fun5 = build("fun", m=5)
    assert list(fun5.selection_steps()) == [0, 50, 100, 150]  # top, then 5 + 5 + 1 of the other 11
    assert list(build("fun", m=5, first="fisher").selection_steps()) == [0, 50, 100]


def test_needs_fisher_only_for_fun():
    assert {name for name in SCHEDULES if build(name).needs_fisher} == {"fun"}


def test_select_outside_a_selection_step_is_an_error():
    with pytest.raises(ValueError, match="not a selection step"):
        build("gu").select(25)
    with pytest.raises(ValueError, match="not a selection step"):
        build("gu").select(L * K)


def test_already_trainable_units_are_not_selected_again():
    schedule = build("lpft")
    assert schedule.select(K, trainable={0, 5}).units == tuple(u for u in ALL if u not in {0, 5})


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_trainable_set_only_grows(name):
    records = run(build(name))
    trainable: set[int] = set()
    for record in records:
        assert not trainable & set(record["units"]), "a unit was selected twice"
        trainable |= set(record["units"])
    steps = unfreeze_steps(records)
    assert set(steps) == trainable


# ---------------------------------------------------------------------------------- FUN rule
def test_fun_picks_argmax_over_frozen_units_only():
    traces = {0: 1.0, 1: 5.0, 2: 9.0, 3: 2.0}  # unit 2 has the largest trace but is trainable
    small = make_schedule("fun", n_units=4, k=10, first="fisher")
    selection = small.select(10, trainable={2}, fisher=traces)
    assert selection.units == (1,)
    assert [unit for unit, _ in selection.ranking] == [1, 3, 0]
    assert isinstance(small, Schedule) and small.needs_fisher


def test_fun_ties_go_to_the_higher_layer():
    schedule = make_schedule("fun", n_units=5, k=10, first="fisher")
    tied = {unit: 1.0 for unit in range(5)}
    assert schedule.select(0, fisher=tied).units == (4,)
    assert steps_and_units(simulate(schedule, 100, fisher_fn=tied)) == [
        (0, [4]), (10, [3]), (20, [2]), (30, [1]), (40, [0])
    ]
    assert rank_by_fisher({1: 2.0, 3: 2.0, 2: 5.0}, [1, 2, 3]) == [(2, 5.0), (3, 2.0), (1, 2.0)]


def test_fun_m_units_at_a_time():
    records = run(build("fun", m=5, first="fisher"))
    assert steps_and_units(records) == [(0, [6, 10, 3, 11, 8]), (50, [1, 4, 7, 5, 0]), (100, [9, 2])]
    records = run(build("fun", m=5))
    assert steps_and_units(records) == [(0, [11]), (50, [6, 10, 3, 8, 1]), (100, [4, 7, 5, 0, 9]), (150, [2])]
    assert select_fun(TRACES, [0, 1, 2], m=2) == [1, 0]


def test_fun_uses_fresh_traces_at_each_step():
    calls = []

    def fisher_fn(step, frozen):
        calls.append((step, sorted(frozen)))
        return {unit: float(unit % 3) for unit in frozen}

    records = simulate(make_schedule("fun", n_units=4, k=10, first="fisher"), 1000, fisher_fn=fisher_fn)
    # traces 0, 1, 2, 0: unit 2, then 1, then the tie 0/3 goes to the higher unit 3.
    assert steps_and_units(records) == [(0, [2]), (10, [1]), (20, [3]), (30, [0])]
    assert calls == [(0, [0, 1, 2, 3]), (10, [0, 1, 3]), (20, [0, 3]), (30, [0])]


def test_fun_accepts_extra_traces_for_trainable_units():
    schedule = make_schedule("fun", n_units=3, k=1)
    assert schedule.select(1, trainable={2}, fisher={0: 1.0, 1: 0.5, 2: 99.0}).units == (0,)


def test_fun_without_frozen_units_needs_no_traces():
    schedule = make_schedule("fun", n_units=2, k=1)
    assert schedule.select(1, trainable={0, 1}) == Selection(step=1, units=(), ranking=())


# ------------------------------------------------------------------------------ random order
def test_random_is_reproducible_by_seed_and_varies_with_it():
    first = steps_and_units(run(build("random", seed=7)))
    assert steps_and_units(run(build("random", seed=7))) == first
    orders = {tuple(r["units"][0] for r in run(build("random", seed=seed))) for seed in range(5)}
    assert len(orders) > 1


def test_random_does_not_touch_the_global_rng():
    random.seed(1234)
    before = random.getstate()
    run(build("random", seed=3))
    sample_permutations(L, 5, seed=3)
    assert random.getstate() == before


# ------------------------------------------------------------------------------ fixed order
def test_fixed_takes_the_papers_permutation_after_the_top_unit():
    order = [11, 10, 1, 0, 3, 9, 6, 8, 2, 5, 7, 4]  # Section 5.2's example, top unit first
    records = run(build("fixed", order=order))
    assert steps_and_units(records) == one_per_step(order)


def test_fixed_must_cover_every_unit_and_points_to_surgical():
    with pytest.raises(ValueError, match=r"must list every unit 0..11 once; missing \[11\].*\[11, \.\.\.\].*'surgical'"):
        build("fixed", order=[10, 1, 0, 3, 9, 6, 8, 2, 5, 7, 4])  # the paper's 11 without the top
    with pytest.raises(ValueError, match=r"missing \[0, 1\].*'surgical'"):
        build("fixed", order=[11, 10, 9, 8, 7, 6, 5, 4, 3, 2])


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ([11, 10, 11], "duplicate unit id 11"),
        ([0, 12], "unit id 12 is out of range for n_units=12"),
        ([-1, 3], "unit id -1 is out of range"),
        ([0, "3"], "unit id must be an integer"),
        ([True, 2], "unit id must be an integer"),
        ([], r"missing \[0, 1, 2"),
        ("0123", "must be a list of unit ids"),
    ],
)
def test_fixed_validates_its_order(order, message):
    with pytest.raises(ValueError, match=message) as info:
        build("fixed", order=order)
    assert "'order'" in str(info.value)


def test_surgical_validates_its_units():
    with pytest.raises(ValueError, match="option 'units'.*duplicate unit id 3"):
        build("surgical", units=[3, 3])
    with pytest.raises(ValueError, match="option 'units'.*out of range"):
        build("surgical", units=[12])
    with pytest.raises(ValueError, match="option 'units'.*at least one unit"):
        build("surgical", units=[])


# ---------------------------------------------------------------------- permutation sampler
def test_sampler_gives_distinct_permutations_starting_in_the_allowed_set():
    permutations = sample_permutations(11, 10, first_in=(10, 9), seed=0)
    assert len(permutations) == 10
    assert len({tuple(p) for p in permutations}) == 10
    assert all(sorted(p) == list(range(11)) for p in permutations)
    assert all(p[0] in (10, 9) for p in permutations)


def test_sampler_default_first_units_are_the_two_top_ones_and_seed_reproduces():
    permutations = sample_permutations(L, 20, seed=5)
    assert {p[0] for p in permutations} <= {11, 10}
    assert sample_permutations(L, 20, seed=5) == permutations
    assert sample_permutations(L, 20, seed=6) != permutations


def test_sampler_can_exhaust_small_spaces_and_refuses_impossible_counts():
    everything = sample_permutations(4, 12, first_in=[3, 2], seed=1)  # 2 * 3! = 12
    assert len({tuple(p) for p in everything}) == 12
    with pytest.raises(ValueError, match="option 'count'.*only 12"):
        sample_permutations(4, 13, first_in=[3, 2])
    with pytest.raises(ValueError, match="option 'first_in'.*out of range"):
        sample_permutations(4, 1, first_in=[4])
    assert sample_permutations(1, 1) == [[0]]


def test_sampled_permutations_feed_the_fixed_schedule():
    for permutation in sample_permutations(L, 3, seed=2):
        records = simulate(make_schedule("fixed", n_units=L, k=K, order=permutation), 10_000)
        assert [r["units"][0] for r in records] == permutation


# -------------------------------------------------------------------------- checkpoint/resume
def drive(schedule, steps, trainable: set[int]):
    """Algorithm 1's selection loop over ``steps``; grows ``trainable``, returns (step, units)."""
    done = []
    for step in steps:
        selection = schedule.select(step, trainable, TRACES if schedule.needs_fisher else None)
        trainable |= set(selection.units)
        done.append((step, list(selection.units)))
    return done


def resume_midway(name, **rebuild_options):
    """Run half of a schedule, checkpoint through JSON, rebuild, load, run the rest."""
    uninterrupted = drive(build(name), build(name).selection_steps(), set())

    first = build(name)
    steps = list(first.selection_steps())
    half = len(steps) // 2
    trainable: set[int] = set()
    done = drive(first, steps[:half], trainable)
    checkpoint = json.loads(json.dumps({"schedule": first.state_dict(), "trainable": sorted(trainable)}))

    resumed = build(name, **rebuild_options)
    resumed.load_state_dict(checkpoint["schedule"])
    done += drive(resumed, steps[half:], set(checkpoint["trainable"]))
    return uninterrupted, done


def test_random_state_dict_round_trip_continues_identically_even_with_another_seed():
    uninterrupted, resumed = resume_midway("random", seed=999)
    assert resumed == uninterrupted
    other_seed = drive(build("random", seed=999), range(0, L * K, K), set())
    assert other_seed != uninterrupted  # so the continuation really came from the checkpoint


@pytest.mark.parametrize("name", ["gu", "revgu", "fixed", "fun", "lpft"])
def test_state_dict_round_trip_for_other_schedules(name):
    uninterrupted, resumed = resume_midway(name)
    assert resumed == uninterrupted


def test_load_state_dict_rejects_a_differently_configured_schedule():
    with pytest.raises(ValueError, match="mismatch for 'name'"):
        build("gu").load_state_dict(build("revgu").state_dict())
    with pytest.raises(ValueError, match="mismatch for 'k'"):
        build("gu").load_state_dict(make_schedule("gu", n_units=L, k=100).state_dict())
    with pytest.raises(ValueError, match="mismatch for 'm'"):
        build("fun").load_state_dict(build("fun", m=2).state_dict())
    with pytest.raises(ValueError, match="missing 'plan'"):
        build("random").load_state_dict({"name": "random", "n_units": L, "k": K})


# ----------------------------------------------------------------------------- error messages
def test_unknown_schedule_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown schedule 'gradual'.*standard, lpft, gu, revgu"):
        make_schedule("gradual", n_units=L, k=K)


@pytest.mark.parametrize("k", [0, -5, 2.5, True])
def test_k_must_be_a_positive_integer(k):
    with pytest.raises(ValueError, match="option 'k' must be a positive integer"):
        make_schedule("gu", n_units=L, k=k)


def test_n_units_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="option 'n_units'"):
        make_schedule("standard", n_units=0, k=K)
    with pytest.raises(ValueError, match="option 'n_units'"):
        make_schedule("fixed", n_units=0, k=K, order=[0])


def test_options_are_checked_by_name():
    with pytest.raises(ValueError, match="option 'seed' is not used by schedule 'gu'"):
        make_schedule("gu", n_units=L, k=K, seed=1)
    with pytest.raises(ValueError, match="option 'seed' is required by schedule 'random'"):
        make_schedule("random", n_units=L, k=K)
    with pytest.raises(ValueError, match="option 'seed' must be an integer"):
        make_schedule("random", n_units=L, k=K, seed="1")
    with pytest.raises(ValueError, match="option 'm' must be a positive integer"):
        make_schedule("fun", n_units=L, k=K, m=0)
    # None means "not set", so one config dict can serve every schedule.
    assert make_schedule("gu", n_units=L, k=K, seed=None, order=None).name == "gu"
    assert schedule_options("random") == {"seed": True, "first": False}
    assert schedule_options("fun") == {"m": False, "first": False}
    assert schedule_options("gu") == {}


def test_fun_without_fisher_values_is_an_error():
    with pytest.raises(ValueError, match="option 'fisher': the fun schedule needs tr\\(F\\)"):
        build("fun").select(K)
    with pytest.raises(ValueError, match="option 'fisher': the fun schedule needs tr\\(F\\)"):
        build("fun", first="fisher").select(0)
    with pytest.raises(ValueError, match="option 'fisher_fn'"):
        simulate(build("fun"), 1000)


def test_missing_or_invalid_fisher_values_are_errors():
    schedule = make_schedule("fun", n_units=4, k=10, first="fisher")
    with pytest.raises(ValueError, match=r"missing tr\(F\) for frozen unit\(s\) \[1, 3\]"):
        schedule.select(0, fisher={0: 1.0, 2: 1.0})
    with pytest.raises(ValueError, match="option 'fisher': unit id 4 is out of range"):
        schedule.select(0, fisher={0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0})
    with pytest.raises(ValueError, match="must be finite"):
        schedule.select(0, fisher={0: 1.0, 1: float("nan"), 2: 1.0, 3: 1.0})
    with pytest.raises(ValueError, match="not a number"):
        schedule.select(0, fisher={0: 1.0, 1: "big", 2: 1.0, 3: 1.0})


def test_trainable_unit_ids_are_validated():
    with pytest.raises(ValueError, match="option 'trainable': unit id 12 is out of range"):
        build("gu").select(K, trainable={12})
