"""Real kills: a `train.py` process is killed with SIGKILL (no cleanup, no atexit, no flush), at a
random step or in the middle of writing a checkpoint, then resumed with --resume. The resumed run
must end bit-identical to one that was never interrupted (weights, logs, tr(F) records, results),
and its log must hold every step exactly once.

In-process tests (tests/test_trainer.py) stop on a checkpoint step, where nothing is half done;
these kill wherever the process happens to be. The tiny BERT fixture and data/demo: no ../shared.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from funfisher.io.runs import PAUSE_WRITE_ENV

REPO = Path(__file__).resolve().parents[1]
STEPS = 90
# Checkpoints every 7 steps (so a kill usually lands between two of them), validation every 20,
# tr(F) tracking every 10, FUN deciding every 15 steps: each kind of state is live at the kill.
LONG = [f"train.max_steps={STEPS}", "train.checkpoint_every=7", "train.eval_every=20",
        "fisher.track_every=10", "schedule.k=15"]


def command(out: Path, schedule: str, overrides: list[str], resume: bool = False) -> list[str]:
    cmd = [sys.executable, str(REPO / "train.py"), "--schedule", schedule, "--output", str(out)]
    for item in overrides + LONG:
        cmd += ["--set", item]
    return cmd + (["--resume"] if resume else [])


def run(out: Path, schedule: str, overrides: list[str], resume: bool = False) -> None:
    done = subprocess.run(command(out, schedule, overrides, resume), capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]


def start(out: Path, schedule: str, overrides: list[str], env: dict | None = None) -> subprocess.Popen:
    # stderr to a file: an unread pipe would fill up with progress output and stall the process
    err = open(out.parent / f"{out.name}.stderr", "w")
    return subprocess.Popen(command(out, schedule, overrides), stdout=subprocess.DEVNULL, stderr=err, cwd=REPO,
                            env={**os.environ, **(env or {})})


def wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.002)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL


def logged_steps(out: Path) -> int:
    path = out / "train_log.jsonl"
    return path.read_text().count("\n") if path.is_file() else 0


def assert_identical(straight: Path, resumed: Path) -> None:
    log_a = [json.loads(x) for x in (straight / "train_log.jsonl").read_text().splitlines()]
    log_b = [json.loads(x) for x in (resumed / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log_b] == list(range(1, STEPS + 1))  # every step exactly once
    assert log_a == log_b
    assert (straight / "fisher.jsonl").read_text() == (resumed / "fisher.jsonl").read_text()
    weights = sorted(p.relative_to(straight) for p in (straight / "adapter").iterdir())
    assert weights and weights == sorted(p.relative_to(resumed) for p in (resumed / "adapter").iterdir())
    for name in weights:
        assert (straight / name).read_bytes() == (resumed / name).read_bytes(), name
    a, b = (json.loads((d / "results.json").read_text()) for d in (straight, resumed))
    for result in (a, b):
        result.pop("timings_seconds")
    assert a == b
    assert not list(resumed.rglob("*.tmp"))


@pytest.fixture(scope="module")
def straight_runs(tmp_path_factory, tiny_run):
    """One uninterrupted run per schedule, shared by the kill tests."""
    root = tmp_path_factory.mktemp("straight")
    runs = {}
    for schedule in ("standard", "fun"):
        run(root / schedule, schedule, list(tiny_run))
        runs[schedule] = root / schedule
    return runs


@pytest.mark.parametrize("schedule", ["standard", "fun"])
def test_sigkill_at_a_random_step_then_resume_is_bit_identical(tmp_path, tiny_overrides, straight_runs, schedule):
    target = random.Random(f"kill-{schedule}").randint(3, STEPS - 10)
    out = tmp_path / "run"
    process = start(out, schedule, tiny_overrides)
    wait_for(lambda: logged_steps(out) >= target, process, f"step {target}")
    kill(process)
    assert logged_steps(out) < STEPS
    run(out, schedule, tiny_overrides, resume=True)
    assert_identical(straight_runs[schedule], out)


@pytest.mark.parametrize("schedule", ["standard", "fun"])
def test_sigkill_during_a_checkpoint_write_then_resume_is_bit_identical(tmp_path, tiny_overrides, straight_runs,
                                                                         schedule):
    out = tmp_path / "run"
    # the 3rd checkpoint (step 21) stops half written; the one of step 14 is the last good one
    process = start(out, schedule, tiny_overrides, env={PAUSE_WRITE_ENV: "checkpoint.pt:3"})
    paused = lambda: "funfisher-test: paused writing" in (tmp_path / "run.stderr").read_text()  # noqa: E731
    wait_for(paused, process, "the checkpoint write")
    kill(process)
    assert list(out.glob(".checkpoint.pt.*.tmp"))  # the half-written file is left behind
    import torch

    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 14
    run(out, schedule, tiny_overrides, resume=True)
    assert_identical(straight_runs[schedule], out)
