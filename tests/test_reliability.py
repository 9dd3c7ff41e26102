"""A hostile user's session: diverged runs, resumes with other settings, damaged checkpoints, two
processes in one folder, kills while finishing, leftovers. Each test reproduces one way a run used
to lose data or report a wrong result, and checks what happens now.

Train on the tiny BERT fixture and the XNLI sample in data/demo (conftest.TINY_RUN): no ../shared.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from funfisher.errors import UserError
from funfisher.io.runs import CHECKPOINT, RunLock, RunLockedError
from funfisher.io.plots import plots_available
from funfisher.train import prepare, run_one, train
from funfisher.train.checkpoint import CheckpointError
from funfisher.train.recipe import DivergedError

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, overrides: list[str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(REPO / "train.py"), *args]
    for item in overrides:
        cmd += ["--set", item]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)


def assert_user_error(done: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit code 2 and exactly one stderr line `error: ...` containing every fragment; no traceback."""
    assert done.returncode == 2, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def strict_json(text: str):
    def reject(name):
        raise AssertionError(f"{name} in a JSON file")
    return json.loads(text, parse_constant=reject)


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file's bytes (but the lock's, which names the last process that held it)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


# ------------------------------------------------------------------ 1. divergence, strict JSON
def test_diverged_training_stops_with_an_error_naming_the_step(tmp_path, tiny_config):
    cfg = tiny_config("train.lr=1e30", "train.checkpoint_every=1", "schedule.name=standard")
    with pytest.raises(DivergedError) as err:
        run_one(cfg, tmp_path / "run")
    message = str(err.value)
    step = int(message.split("step ")[1].split(":")[0])
    assert step >= 2 and ("loss is nan" in message or "gradient norm is" in message), message
    assert not (tmp_path / "run" / "results.json").exists()  # no result from NaN weights
    # the last good checkpoint is kept: the step before the one that diverged, with finite weights
    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert state["step"] == step - 1
    assert all(torch.isfinite(t).all() for t in state["trained"].values())
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, step)) and all(math.isfinite(r["loss"]) for r in log)


def test_diverged_run_on_the_command_line_is_one_error_line(tmp_path, tiny_overrides):
    done = cli("--schedule", "standard", "--output", str(tmp_path / "run"), overrides=tiny_overrides + ["train.lr=1e30"])
    assert_user_error(done, "training diverged", "step ")


@pytest.mark.parametrize("schedule", ["lpft", "fun"])
def test_every_json_file_a_run_writes_is_strict_json(tmp_path, tiny_config, schedule):
    # LPFT tracks tr(F) while no unit trains (the mean over trainable units is undefined); FUN
    # with min_batches=1 can stop on a single batch (the t statistic is undefined).
    cfg = tiny_config(f"schedule.name={schedule}", "fisher.track_every=1", "fisher.min_batches=1",
                      "fisher.max_batches=1")
    run_one(cfg, tmp_path / "run")
    for path in [*tmp_path.rglob("*.json"), *tmp_path.rglob("*.jsonl")]:
        text = path.read_text()
        for line in (text.splitlines() if path.suffix == ".jsonl" else [text]):
            strict_json(line)
    fisher = strict_json((tmp_path / "run" / "results.json").read_text())["fisher"]
    if schedule == "lpft":
        assert any(r["purpose"] == "track" and r["mean_trainable"] is None for r in fisher)
    else:
        select = [r for r in fisher if r["purpose"] == "select"]
        assert select and all(r["test"]["n"] >= 1 for r in select if r["test"])


# ------------------------------------------------------------------ 2, 3. resume checks the configuration
def test_resume_of_a_finished_run_checks_the_configuration(tmp_path, tiny_overrides):
    out = tmp_path / "run"
    assert cli("--schedule", "gu", "--output", str(out), overrides=tiny_overrides).returncode == 0
    before = files_of(out)
    done = cli("--schedule", "gu", "--resume", "--output", str(out), overrides=tiny_overrides + ["train.lr=0.05"])
    assert_user_error(done, "results.json", "train.lr", "0.05")
    assert files_of(out) == before


def test_compare_resume_with_other_settings_fails_before_any_work(tmp_path, tiny_overrides):
    out = tmp_path / "cmp"
    assert cli("--compare", "standard", "gu", "--output", str(out), overrides=tiny_overrides).returncode == 0
    before = files_of(out)
    done = cli("--compare", "standard", "fun", "--resume", "--output", str(out),
               overrides=tiny_overrides + ["train.lr=0.05"])
    assert_user_error(done, "standard", "train.lr")
    assert files_of(out) == before and not (out / "fun").exists()


def test_the_checkpoint_carries_its_configuration(tmp_path, tiny_config):
    cfg = tiny_config("schedule.name=gu")
    run = prepare(cfg)
    train(run, tmp_path, stop_after=6)
    assert not (tmp_path / "config.toml").exists()  # no config.toml: the checkpoint itself knows
    with pytest.raises(CheckpointError, match=r"train\.lr: 0\.0005 \(saved\) -> 0\.05 \(now\)"):
        run_one(tiny_config("schedule.name=gu", "train.lr=0.05"), tmp_path, resume=True)
    assert torch.load(tmp_path / CHECKPOINT, weights_only=True)["config"]["train"]["lr"] == 0.0005


# ------------------------------------------------------------------ 6. damaged checkpoints are user errors
def _checkpointed(tmp_path: Path, tiny_overrides) -> Path:
    out = tmp_path / "run"
    done = cli("--schedule", "gu", "--output", str(out), overrides=tiny_overrides)
    assert done.returncode == 0, done.stderr[-2000:]
    (out / "results.json").unlink()  # as if killed before finishing: --resume continues from the checkpoint
    return out


class Payload:
    def __reduce__(self):
        return (print, ("code in a checkpoint ran",))


@pytest.mark.parametrize("damage", ["truncated", "empty", "pickled code", "missing keys", "random bytes"])
def test_a_damaged_checkpoint_is_one_error_line(tmp_path, tiny_overrides, damage):
    out = _checkpointed(tmp_path, tiny_overrides)
    path = out / CHECKPOINT
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "pickled code":
        torch.save({"step": Payload()}, path)
    elif damage == "missing keys":
        state = torch.load(path, weights_only=True)
        del state["trained"]
        torch.save(state, path)
    else:
        path.write_bytes(bytes(range(256)) * 8)
    done = cli("--schedule", "gu", "--resume", "--output", str(out), overrides=tiny_overrides)
    line = assert_user_error(done, str(path))
    assert "weights_only=False" not in line and "code in a checkpoint ran" not in done.stdout + done.stderr


def test_a_checkpoint_of_another_adapter_kind_is_refused_by_its_configuration(tmp_path, tiny_config):
    run = prepare(tiny_config("schedule.name=gu"))
    train(run, tmp_path, stop_after=3)
    with pytest.raises(CheckpointError, match=r'adapters\.kind: "bottleneck" \(saved\) -> "full" \(now\)'):
        run_one(tiny_config("schedule.name=gu", "adapters.kind=full"), tmp_path, resume=True)


def test_an_existing_run_folder_is_one_error_line(tmp_path, tiny_overrides):
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text("{}")
    assert_user_error(cli("--output", str(out), overrides=tiny_overrides), str(out), "--resume")


# ------------------------------------------------------------------ 7. one process per run folder
def test_a_second_process_in_a_run_folder_fails_at_once_naming_the_first(tmp_path, tiny_overrides):
    out = _checkpointed(tmp_path, tiny_overrides)
    before = files_of(out)
    with RunLock(out):  # this test process holds the folder, as a running train.py would
        done = cli("--schedule", "gu", "--resume", "--output", str(out), overrides=tiny_overrides)
        import os
        assert_user_error(done, "in use by process", str(os.getpid()))
    assert files_of(out) == before


def test_the_lock_is_free_again_after_the_holder_dies(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from funfisher.io.runs import RunLock; "
                               f"RunLock({str(folder)!r}).acquire(); print('locked', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"process {holder.pid}"):
            RunLock(folder).acquire()
    finally:
        holder.kill()
        holder.wait()
    with RunLock(folder):  # the dead process's lock went with it: no stale lock
        pass


# ------------------------------------------------------------------ 8. finishing is idempotent
def test_resume_writes_what_a_finished_run_is_missing(tmp_path, tiny_config):
    cfg = tiny_config("schedule.name=fun")
    out = tmp_path / "run"
    run_one(cfg, out)
    complete = files_of(out)
    lost = ["summary.md", "adapter/adapter_config.json", "adapter/pytorch_adapter.bin"]
    if plots_available() is None:
        lost += ["fisher.png", "schedule.png"]
    for name in lost:
        (out / name).unlink()
    run_one(cfg, out, resume=True)
    now = files_of(out)
    for name in lost:
        if name.endswith(".png"):
            assert now[name][:4] == b"\x89PNG", name
        else:
            assert now[name] == complete[name], name
    assert strict_json(now["results.json"].decode())["metrics"] == strict_json(complete["results.json"].decode())["metrics"]


def test_a_run_killed_while_finishing_finishes_on_resume(tmp_path, tiny_config, monkeypatch):
    cfg = tiny_config("schedule.name=gu")
    run_one(cfg, tmp_path / "straight")
    from funfisher.train import recipe

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands for a kill after the adapter is saved, before results.json
    monkeypatch.setattr(recipe, "write_outputs", killed)
    with pytest.raises(KeyboardInterrupt):
        run_one(cfg, tmp_path / "killed")
    assert not (tmp_path / "killed" / "results.json").exists()
    monkeypatch.undo()
    run_one(cfg, tmp_path / "killed", resume=True)
    a, b = files_of(tmp_path / "straight"), files_of(tmp_path / "killed")
    assert a.keys() == b.keys()
    for name in a:
        if name.endswith((".safetensors", "summary.md", "train_log.jsonl", "fisher.jsonl")):
            assert a[name] == b[name], name
    ra, rb = strict_json(a["results.json"].decode()), strict_json(b["results.json"].decode())
    assert ra["metrics"] == rb["metrics"] and ra["schedule"] == rb["schedule"]


# ------------------------------------------------------------------ 9. leftovers, failed starts
def test_leftover_temporary_files_are_removed_at_the_next_start(tmp_path, tiny_config):
    cfg = tiny_config("schedule.name=gu")
    run = prepare(cfg)
    train(run, tmp_path, stop_after=6)
    leftovers = [tmp_path / ".checkpoint.pt.x1y2z3.tmp", tmp_path / ".train_log.jsonl.abc.tmp"]
    for path in leftovers:
        path.write_bytes(b"half a write")
    run_one(cfg, tmp_path, resume=True)
    assert not any(path.exists() for path in leftovers)
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("bad, fragment", [
    ("train.device=cuda:7", "train.device"),
    ("schedule.order=[0]", "order"),  # a fixed order must name every unit: known only once the model is read
])
def test_a_failed_start_creates_nothing(tmp_path, tiny_overrides, bad, fragment):
    extra = ["schedule.name=fixed"] if "order" in bad else []
    done = cli("--output", str(tmp_path / "run"), overrides=tiny_overrides + extra + [bad])
    assert_user_error(done, fragment)
    assert not (tmp_path / "run").exists()
    extra_ok = ["schedule.order=[1, 0]"] if extra else []
    retry = cli("--output", str(tmp_path / "run"), overrides=tiny_overrides + extra + extra_ok)
    assert retry.returncode == 0, retry.stderr[-2000:]


def test_user_errors_are_user_error_subclasses():
    from funfisher.io.runs import RunExistsError
    from funfisher.runconfig import ConfigError

    for cls in (RunExistsError, RunLockedError, CheckpointError, DivergedError, ConfigError):
        assert issubclass(cls, UserError), cls


# ------------------------------------------------------------------ 5. data errors come before the work
def test_a_malformed_evaluation_file_fails_before_training(tmp_path, tiny_overrides):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(REPO / "data" / "demo", data)
    sw = data / "xnli" / "dev-sw.tsv"
    lines = sw.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[56] = lines[56].replace("\t", " ", 1)  # row 57 loses a column
    sw.write_text("".join(lines), encoding="utf-8")
    done = cli("--output", str(tmp_path / "run"), overrides=tiny_overrides + [f"task.data_dir={data}"])
    assert_user_error(done, str(sw), "line 57")
    assert "train [" not in done.stderr and not (tmp_path / "run").exists()  # no step ran, no folder made


def test_compare_overwrite_moves_the_whole_comparison_aside(tmp_path, tiny_overrides):
    out = tmp_path / "cmp"
    assert cli("--compare", "standard", "gu", "--output", str(out), overrides=tiny_overrides).returncode == 0
    before = files_of(out)
    done = cli("--compare", "standard", "gu", "--overwrite", "--output", str(out), overrides=tiny_overrides)
    assert done.returncode == 0, done.stderr[-2000:]
    assert files_of(tmp_path / "cmp.old-1") == before  # nothing deleted
    assert (out / "gu" / "results.json").is_file() and (out / "comparison.json").is_file()
