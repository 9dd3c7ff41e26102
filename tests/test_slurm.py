"""--launcher slurm against a real single-node Slurm cluster (../shared/slurm: munge, MariaDB +
slurmdbd, slurmctld, slurmd), started here; skipped with the reason where it cannot start (not
root, no recipe, no Debian packages). A 2-cell sweep as a job array gives the local sweep's
results exactly, and a cell preempted mid-run (submitit's own interrupt: USR2, checkpoint,
requeue) continues from its checkpoint to the uninterrupted run's results."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO.parent / "shared" / "slurm"
pytest.importorskip("submitit", reason="submitit is an optional extra (pip install submitit)")


@pytest.fixture(scope="module")
def cluster():
    if not (RECIPE / "start.sh").is_file():
        pytest.skip(f"no Slurm recipe at {RECIPE}")
    if os.geteuid() != 0:
        pytest.skip("starting the test Slurm cluster needs root")
    # the node's CPUs come from nproc, which obeys OMP_NUM_THREADS: give it the machine's count
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    done = subprocess.run(["bash", str(RECIPE / "start.sh")], capture_output=True, text=True, timeout=600, env=env)
    if done.returncode:
        pytest.skip(f"the test Slurm cluster did not start: {(done.stderr or done.stdout).strip()[-300:]}")
    yield
    subprocess.run(["bash", str(RECIPE / "stop.sh")], capture_output=True, text=True, timeout=300)


def overrides(**extra) -> list[str]:
    values = {"model.name": REPO / "tests/fixtures/tiny-bert/classification", "task.data_dir": REPO / "data/demo",
              "task.max_length": 32, "task.eval_n": 24, "task.train.n": 48,
              "task.evaluate.languages": "['en', 'de']", "train.max_steps": 10, "train.batch_size": 8,
              "train.eval_every": 5, "train.checkpoint_every": 5, "schedule.k": 2, "fisher.track_every": 0,
              "train.threads": 1, **extra}
    return [f"{key}={value}" for key, value in values.items()]


def same_run(a: Path, b: Path) -> None:
    """Two run folders hold the same run: metrics, schedule and every learned weight."""
    from funfisher.train.results import RunResult

    ra, rb = RunResult.read(a), RunResult.read(b)
    assert ra.metrics == rb.metrics and ra.schedule == rb.schedule and ra.best == rb.best
    for name in ("adapter/pytorch_adapter.bin", "adapter/pytorch_model_head.bin"):
        ta, tb = torch.load(a / name), torch.load(b / name)
        assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta), name


def test_a_sweep_as_a_job_array_equals_the_local_sweep(cluster, tmp_path):
    from funfisher.train.slurm import SlurmOptions
    from funfisher.train.sweep import plan_grid, run_sweep

    grid = lambda slurm: plan_grid(None, overrides(), schedules=["standard", "gu"], seeds=[1], slurm=slurm)  # noqa: E731
    local = run_sweep(grid(None), tmp_path / "local")
    remote = run_sweep(grid(SlurmOptions(partition="debug")), tmp_path / "slurm")
    assert [c["status"] for c in remote["cells"]] == ["done", "done"]
    assert remote["grid"]["launcher"] == {"slurm": {"partition": "debug", "time_min": 60, "gpus_per_cell": 0,
                                                    "max_parallel": None, "ranks_per_cell": None}}
    for cell in local["cells"]:
        same_run(tmp_path / "local" / cell["folder"], tmp_path / "slurm" / cell["folder"])
    assert any((tmp_path / "slurm" / "slurm").rglob("*_log.out"))  # submitit's logs stay with the sweep


def test_a_preempted_cell_is_requeued_and_resumes_to_the_same_result(cluster, tmp_path):
    from funfisher.runconfig import load_config, to_dict
    from funfisher.train import run_one
    from funfisher.train.slurm import SlurmOptions, cell_job_class, executor

    config = load_config(None, overrides(**{"train.max_steps": 3000, "train.checkpoint_every": 100,
                                            "train.eval_every": 1000}))
    run_one(config, tmp_path / "whole")
    ex = executor(tmp_path, SlurmOptions(partition="debug"), threads=1, name="preempt")
    job = ex.submit(cell_job_class()(), to_dict(config), str(tmp_path / "cut"), False)
    deadline = time.time() + 300
    while not (tmp_path / "cut" / "checkpoint.pt").exists():  # interrupted mid-run, after a checkpoint
        assert time.time() < deadline and not job.done(), job.state
        time.sleep(0.2)
    job._interrupt()  # USR2: submitit calls CellJob.checkpoint, which requeues the cell with resume=True
    result = job.result()
    assert result == {"error": None, "restarts": 1}
    same_run(tmp_path / "whole", tmp_path / "cut")


def test_a_cell_on_two_ranks_is_one_slurm_job_of_two_tasks_with_one_processs_result(cluster, tmp_path):
    """--slurm-ranks 2: the cell's two tasks join one process group (gloo here, NCCL with GPUs) and
    give the one-process run's result within 1e-5 (tests/test_parallel.py says why that tolerance)."""
    from funfisher.runconfig import load_config, to_dict
    from funfisher.train import run_one
    from funfisher.train.slurm import SlurmOptions, cell_job_class, executor

    config = load_config(None, overrides(**{"schedule.name": "fun", "train.threads": 2, "task.train.n": 49,
                                            "fisher.track_every": 4}))
    run_one(config, tmp_path / "one")
    ex = executor(tmp_path, SlurmOptions(partition="debug", ranks_per_cell=2), threads=2, name="ranks")
    job = ex.submit(cell_job_class()(), to_dict(config), str(tmp_path / "two"), False)
    assert job.results() == [{"error": None, "restarts": 0}] * 2
    one, two = (json.loads((tmp_path / run / "results.json").read_text()) for run in ("one", "two"))
    assert two["schedule"] == one["schedule"] or [s["units"] for s in two["schedule"]] == \
        [s["units"] for s in one["schedule"]]
    assert two["metrics"] == one["metrics"]
    for a, b in zip(one["fisher"], two["fisher"]):
        assert b["values"] == pytest.approx(a["values"], rel=1e-5)
    for name in ("adapter/pytorch_adapter.bin", "adapter/pytorch_model_head.bin"):
        ta, tb = torch.load(tmp_path / "one" / name), torch.load(tmp_path / "two" / name)
        for key in ta:
            torch.testing.assert_close(tb[key], ta[key], rtol=0, atol=1e-5)
    log = next((tmp_path / "slurm").rglob("*_1_log.err")).read_text()  # rank 1 trained, and wrote nothing
    assert "train [fun]" not in log and "run folder" not in log


def test_a_cell_the_cluster_cannot_run_fails_with_the_reason_instead_of_waiting_for_ever(cluster, tmp_path):
    """4 ranks of 1 CPU on this 2-CPU node: Slurm would keep the job pending for ever (PartitionConfig)."""
    from funfisher.train.slurm import SlurmOptions
    from funfisher.train.sweep import SweepError, plan_grid, run_sweep

    grid = plan_grid(None, overrides(), schedules=["standard"], seeds=[1], slurm=SlurmOptions(partition="debug",
                                                                                              ranks_per_cell=4))
    t0 = time.monotonic()
    with pytest.raises(SweepError, match=r"cannot run as asked \(PartitionConfig: .*--slurm-ranks.*cancelled"):
        run_sweep(grid, tmp_path / "S")
    assert time.monotonic() - t0 < 120
    sweep = json.loads((tmp_path / "S/sweep.json").read_text())
    assert sweep["counts"]["failed"] == 1 and "PartitionConfig" in sweep["cells"][0]["error"]
    job_id = re.search(r"Slurm job (\S+) cannot run", sweep["cells"][0]["error"]).group(1)
    time.sleep(1)
    queue = subprocess.run(["squeue", "-h", "-j", job_id], capture_output=True, text=True).stdout
    assert not queue.strip(), queue  # the job was cancelled, not left in the queue


def test_a_bad_option_is_one_line_before_any_work(tmp_path):
    done = subprocess.run([os.sys.executable, str(REPO / "train.py"),
                           "--launcher", "slurm", "--output", str(tmp_path / "x")], capture_output=True, text=True)
    assert done.returncode == 2 and "--launcher is for the cells of a sweep" in done.stderr
    done = subprocess.run([os.sys.executable, str(REPO / "train.py"), "--seeds", "1", "--slurm-gpus", "1",
                           "--output", str(tmp_path / "y")], capture_output=True, text=True)
    assert done.returncode == 2 and "are for --launcher slurm" in done.stderr and not (tmp_path / "y").exists()
