"""The training recipe on a tiny model and the XNLI sample shipped in data/demo (no ../shared needed)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from funfisher import adapters as A
from funfisher.io.runs import RunExistsError
from funfisher.tasks import model_inputs
from funfisher.io.plots import plots_available
from funfisher.train import TASK, collate, finish, prepare, run_one, train

REPO = Path(__file__).resolve().parents[1]
def adapter_weights(run) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in run.model.named_parameters() if ".adapters." in n or n.startswith("head.")}


@pytest.mark.parametrize("schedule", ["fun", "random", "gu"])
def test_killed_and_resumed_run_ends_with_identical_weights(tmp_path, schedule, tiny_config):
    cfg = tiny_config(f"schedule.name={schedule}", "schedule.seed=3" if schedule == "random" else "schedule.seed=''")
    straight = prepare(cfg)
    train(straight, tmp_path / "a")
    (tmp_path / "b").mkdir()
    killed = prepare(cfg)
    train(killed, tmp_path / "b", stop_after=6)  # "killed" right after the step-6 checkpoint
    resumed = prepare(cfg)
    train(resumed, tmp_path / "b", resume=True)
    assert resumed.step == straight.step == 10
    a, b = adapter_weights(straight), adapter_weights(resumed)
    assert a.keys() == b.keys() and len(a) > 4
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert resumed.schedule_log == straight.schedule_log
    assert [r["values"] for r in resumed.fisher_log] == [r["values"] for r in straight.fisher_log]
    log_a = [json.loads(x)["loss"] for x in (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()]
    log_b = [json.loads(x)["loss"] for x in (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()]
    assert log_a == log_b and len(log_a) == 10
    fisher_a = (tmp_path / "a" / "fisher.jsonl").read_text()
    assert fisher_a == (tmp_path / "b" / "fisher.jsonl").read_text() and fisher_a.count("\n") == len(straight.fisher_log)


def test_frozen_parameters_never_change_even_with_weight_decay(tmp_path, tiny_config):
    cfg = tiny_config("schedule.name=gu", "schedule.k=4", "train.weight_decay=0.1", "train.max_steps=6")
    run = prepare(cfg)
    base_before = {n: p.detach().clone() for n, p in run.model.encoder.named_parameters() if not n.startswith("adapters.")}
    units_before = {u: [p.detach().clone() for p in ps] for u, ps in run.units.items()}
    train(run, tmp_path)
    # GU on 2 layers with k=4 over 6 steps: layer 1 from step 0, layer 0 from step 4.
    assert run.schedule_log == [{"step": 0, "units": [1]}, {"step": 4, "units": [0]}]
    for n, p in run.model.encoder.named_parameters():
        if not n.startswith("adapters."):
            assert torch.equal(p, base_before[n]), f"base weight {n} changed"
    assert all(not torch.equal(a, b) for a, b in zip(run.units[1], units_before[1]) if a.dim() == 2)
    # Layer 0 was trainable for steps 4 and 5 only: its Adam state counts exactly those 2 updates
    # (fresh state at its first update, not moments carried over from frozen steps).
    for p in run.units[0]:
        assert int(run.optimizer.state[p]["step"]) == 2
    for p in run.units[1]:
        assert int(run.optimizer.state[p]["step"]) == 6


def test_frozen_unit_is_untouched_until_unfrozen(tmp_path, tiny_config):
    cfg = tiny_config("schedule.name=gu", "schedule.k=100", "train.weight_decay=0.5", "train.max_steps=5")
    run = prepare(cfg)
    before = [p.detach().clone() for p in run.units[0]]
    train(run, tmp_path)
    assert run.trainable == {1}
    assert all(torch.equal(p, b) for p, b in zip(run.units[0], before))
    assert all(p not in run.optimizer.state for p in run.units[0])


def test_gu_unfreezes_the_second_top_layer_at_step_k():
    from funfisher.schedules import make_schedule, simulate

    records = simulate(make_schedule("gu", n_units=12, k=50), total_steps=600)
    assert records[0] == {"step": 0, "units": [11]} and records[1] == {"step": 50, "units": [10]}


def test_results_json_has_the_contract_fields(tmp_path, tiny_config):
    results = run_one(tiny_config("schedule.name=fun", "schedule.first=fisher"), tmp_path / "run")
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk["schedule"] == results.schedule
    assert [e["step"] for e in on_disk["schedule"]] == [0, 2]
    assert all(isinstance(u, int) for e in on_disk["schedule"] for u in e["units"])
    select = [f for f in on_disk["fisher"] if f["purpose"] == "select"]
    assert [f["step"] for f in select] == [0, 2] and set(select[0]["values"]) == {"0", "1"}
    values = {int(u): v for u, v in select[0]["values"].items()}
    assert on_disk["schedule"][0]["units"] == [max(values, key=lambda u: (values[u], u))]  # FUN: arg-max tr(F)
    # tiny BERT (hidden 32, 3 labels, pooler in the checkpoint): head = out only, 32 * 3 + 3 = 99;
    # a unit = the bottleneck adapter 32 -> 2 -> 32: (32 * 2 + 2) + (2 * 32 + 32) = 162
    assert on_disk["trainable_parameters"] == {"head": 99, "units": {"0": 162, "1": 162}}
    assert set(on_disk["metrics"]) == {"en", "de", "sw"}
    assert on_disk["xling_avg"] == pytest.approx((on_disk["metrics"]["de"]["accuracy"] + on_disk["metrics"]["sw"]["accuracy"]) / 2)
    logged = [json.loads(line) for line in (tmp_path / "run" / "fisher.jsonl").read_text().splitlines()]
    assert [(r["step"], r["purpose"]) for r in logged] == [(r["step"], r["purpose"]) for r in on_disk["fisher"]]
    for name in ("config.toml", "train_log.jsonl", "summary.md", "adapter/adapter_config.json"):
        assert (tmp_path / "run" / name).is_file(), name
    if plots_available() is None:  # matplotlib installed: the schedule plot is a PNG
        assert (tmp_path / "run" / "schedule.png").read_bytes()[:4] == b"\x89PNG"
    else:  # not installed: no plots, and the summary says why
        assert plots_available() in (tmp_path / "run" / "summary.md").read_text()


def test_saved_adapter_reloads_with_identical_outputs(tmp_path, tiny_config):
    run = prepare(tiny_config("schedule.name=standard"))
    train(run, tmp_path)
    finish(run, tmp_path)
    other = prepare(tiny_config("schedule.name=standard"))
    A.delete_adapter(other.model.encoder, TASK)
    name = A.load_adapter(other.model, tmp_path / "adapter", name=TASK)
    A.load_head(other.model, tmp_path / "adapter")
    A.activate(other.model.encoder, name)
    batch = model_inputs(collate(run, list(range(8))))
    run.model.eval(), other.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(run.model(**batch), other.model(**batch), atol=0, rtol=0)


def test_existing_run_folder_is_not_overwritten(tmp_path, tiny_config):
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text("{}")
    with pytest.raises(RunExistsError, match="already exists"):
        run_one(tiny_config(), out)
    assert (out / "results.json").read_text() == "{}"


def test_cli_runs_and_rejects_bad_config(tmp_path, tiny_overrides):
    cmd = [sys.executable, str(REPO / "train.py"), "--schedule", "gu", "--max-steps", "4", "--output", str(tmp_path / "cli")]
    for item in tiny_overrides:
        cmd += ["--set", item]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "cli" / "results.json").read_text())
    assert results["schedule"][0] == {"step": 0, "units": [1]} and results["steps"] == 4
    bad = subprocess.run([sys.executable, str(REPO / "train.py"), "--set", "train.lrr=1"], capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "unknown key 'lrr' (did you mean 'lr'?)" in bad.stderr


def test_full_fine_tuning_baseline(tmp_path, tiny_config):
    """adapters.kind = "full": the whole encoder trains (units = layers, embeddings with unit 0)."""
    cfg = tiny_config("adapters.kind=full", "schedule.name=standard", "train.max_steps=3", "fisher.track_every=2")
    run = prepare(cfg)
    before = {n: p.detach().clone() for n, p in run.model.encoder.named_parameters()}
    train(run, tmp_path)
    results = finish(run, tmp_path)
    changed = [n for n, p in run.model.encoder.named_parameters() if not torch.equal(p, before[n])]
    assert any(n.startswith("embed.") for n in changed) and any(n.startswith("layers.0.") for n in changed)
    assert (tmp_path / "adapter" / "model.safetensors").is_file()
    assert results.metrics["de"]["setup"] == "fully fine-tuned encoder"
    assert set(results.fisher[0]["values"]) == {"0", "1"}  # tracking works on whole-layer units


def test_device_option_resolves_or_fails_clearly(tiny_config):
    from funfisher.train import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="not a device name"):
        resolve_device("gpu0")
    with pytest.raises(ValueError, match="only cpu, cuda, mps"):
        resolve_device("meta")
    if not torch.cuda.is_available():  # this machine: a CPU-only torch
        with pytest.raises(ValueError, match="sees no CUDA device"):
            prepare(tiny_config("train.device=cuda"))  # fails before any data is loaded


def test_explicit_cpu_device_trains_like_the_default(tmp_path, tiny_config):
    default = prepare(tiny_config("train.max_steps=3"))  # prepare seeds the global RNG (dropout): train right after
    train(default, tmp_path / "a")
    explicit = prepare(tiny_config("train.max_steps=3", "train.device=cpu"))
    train(explicit, tmp_path / "b")
    assert explicit.device == torch.device("cpu")
    a, b = adapter_weights(default), adapter_weights(explicit)
    assert all(torch.equal(a[n], b[n]) for n in a)
