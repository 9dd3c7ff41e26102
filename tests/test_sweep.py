"""Sweeps (funfisher/train/sweep.py, train.py --seeds / --train-sizes / --orders / --jobs): the grid's
layout and configurations, per-size settings ([train_sizes.<n>] sections), resuming a killed sweep
cell by cell, refusing a changed configuration before any cell runs, parallel workers giving the
same results as one process, failed cells reported, and every user error as one `error:` line.

The tiny BERT fixture and data/demo (conftest.TINY_RUN), 4 steps, one thread per cell.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from funfisher.io.plots import plots_available
from funfisher.io.runs import PAUSE_WRITE_ENV
from funfisher.runconfig import ConfigError, load_config, to_dict
from funfisher.schedules import make_schedule
from funfisher.train.sweep import SWEEP, permutation, plan_grid

REPO = Path(__file__).resolve().parents[1]
FAST = ["train.max_steps=4", "train.threads=1"]
PARTS = {"train", "fisher_select", "fisher_track", "validation", "zero_shot"}
_spec = importlib.util.spec_from_file_location("funfisher_train_cli_sweep", REPO / "train.py")
train_cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train_cli)


def sets(overrides: list[str]) -> list[str]:
    return [arg for item in overrides for arg in ("--set", item)]


def main(*args: str) -> tuple[int, str]:
    """train.py's main in this process: (exit code, stderr), an argparse exit included."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = train_cli.main(list(args))
        except SystemExit as e:
            code = e.code
    return code, err.getvalue()


def assert_user_error(code: int, stderr: str, *fragments: str) -> str:
    """Exit code 2 and exactly one stderr line `error: ...` containing every fragment; no traceback."""
    assert code == 2, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def strict_json(path: Path):
    def reject(name):
        raise AssertionError(f"{name} in {path}")
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=reject)


def files_of(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime (but the lock's, which names the last process that held it)."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def results(folder: Path) -> tuple:
    """What a cell found, without timings: metrics, schedule, tr(F) records, and the losses."""
    r = strict_json(folder / "results.json")
    losses = [json.loads(line)["loss"] for line in (folder / "train_log.jsonl").read_text().splitlines()]
    return r["metrics"], r["schedule"], r["fisher"], r["xling_avg"], losses


@pytest.fixture(scope="module")
def two_by_two(tmp_path_factory, tiny_run):
    """standard and fun x seeds 1 and 2, one process (--jobs 1), one thread per cell."""
    out = tmp_path_factory.mktemp("sweep") / "S"
    code, err = main("--compare", "standard", "fun", "--seeds", "1", "2", "--output", str(out),
                     *sets(list(tiny_run) + FAST))
    assert code == 0, err[-3000:]
    return out, err


# ------------------------------------------------------------------ layout, configs, sweep.json
def test_schedules_x_seeds_layout_configs_and_sweep_json(two_by_two):
    out, err = two_by_two
    sweep = strict_json(out / SWEEP)
    assert sweep["grid"]["schedules"] == ["standard", "fun"] and sweep["grid"]["seeds"] == [1, 2]
    assert [c["folder"] for c in sweep["cells"]] == ["standard/seed1", "fun/seed1", "standard/seed2", "fun/seed2"]
    assert sweep["counts"] == {"cells": 4, "done": 4, "pending": 0, "failed": 0}
    for cell in sweep["cells"]:
        folder = out / cell["folder"]
        config = tomllib.loads((folder / "config.toml").read_text())
        assert config["seed"] == cell["seed"] and config["schedule"]["name"] == cell["schedule"]
        assert config["name"] == f"run-{cell['schedule']}-seed{cell['seed']}" == cell["name"]
        assert config["train"]["threads"] == cell["threads"] == 1
        result = strict_json(folder / "results.json")
        assert result["config"]["seed"] == cell["seed"] and cell["status"] == "done"
        assert set(cell["seconds"]) == PARTS and cell["seconds"] == {p: result["timings_seconds"][p] for p in PARTS}
        assert cell["xling_avg"] == result["xling_avg"] and cell["steps"] == 4 and cell["permutation"] is None
    assert sweep["cost_seconds"]["total"] == pytest.approx(sum(c["total_seconds"] for c in sweep["cells"]), abs=0.05)
    # the seed matters (data subsample, init, dropout), the schedule's own section does not leak
    assert results(out / "standard/seed1")[4] != results(out / "standard/seed2")[4]
    # one progress line per cell start and end
    assert "cell 1/4 standard seed1: started" in err and "cell 3/4 standard seed2: done in " in err
    assert "cell 4/4 fun seed2: done in " in err and "; 0 to go" in err
    assert [g["schedule"] for g in sweep["summary"]] == ["standard", "fun"]


# ------------------------------------------------------------------ kill, refuse, resume
def test_killed_sweep_resumes_cell_by_cell_and_refuses_a_changed_config(tmp_path, tiny_overrides):
    out = tmp_path / "S"
    cmd = [sys.executable, str(REPO / "train.py"), "--compare", "standard", "gu", "--seeds", "1", "2",
           "--output", str(out), *sets(tiny_overrides + FAST)]
    log = tmp_path / "sweep.stderr"
    # cell 1 writes 2 checkpoints (steps 3, 4); the 3rd write, cell 2's first, stops half way
    with open(log, "w") as f:
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=f, cwd=REPO,
                                   env={**os.environ, PAUSE_WRITE_ENV: "checkpoint.pt:3"})
    deadline = time.monotonic() + 120
    while not (out / "standard/seed1/results.json").exists() or "paused writing" not in log.read_text():
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "timed out waiting for the sweep"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert not (out / "gu/seed1/results.json").exists() and not (out / "standard/seed2").exists()
    assert strict_json(out / SWEEP)["counts"] == {"cells": 4, "done": 1, "pending": 3, "failed": 0}
    finished = files_of(out / "standard/seed1")
    before = files_of(out)

    # a changed --set: refused before any cell runs, naming the key; nothing written
    code, err = main("--compare", "standard", "gu", "--seeds", "1", "2", "--resume", "--output", str(out),
                     *sets(tiny_overrides + FAST + ["train.lr=0.05"]))
    assert_user_error(code, err, "standard seed1", "train.lr", "0.05")
    assert files_of(out) == before and "started" not in err

    code, err = main("--compare", "standard", "gu", "--seeds", "1", "2", "--resume", "--output", str(out),
                     *sets(tiny_overrides + FAST))
    assert code == 0, err[-3000:]
    assert files_of(out / "standard/seed1") == finished  # untouched: same bytes, same mtimes
    assert "cell 1/4" not in err and "cell 2/4 gu seed1: started" in err and "removed 1 temporary file" in err
    sweep = strict_json(out / SWEEP)
    assert sweep["counts"]["done"] == 4 and all((out / c["folder"] / "results.json").is_file() for c in sweep["cells"])
    assert [json.loads(x)["step"] for x in (out / "gu/seed1/train_log.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    assert not list(out.rglob("*.tmp"))

    # a finished sweep resumed again: nothing runs, nothing changes but sweep.json
    before = files_of(out)
    code, err = main("--compare", "standard", "gu", "--seeds", "1", "2", "--resume", "--output", str(out),
                     *sets(tiny_overrides + FAST))
    assert code == 0 and "4 done, 0 to run" in err, err[-3000:]
    assert {k: v for k, v in files_of(out).items() if k != SWEEP} == {k: v for k, v in before.items() if k != SWEEP}


# ------------------------------------------------------------------ --jobs
def test_two_workers_give_the_results_of_one_process_and_report_a_failed_cell(tmp_path, tiny_overrides, two_by_two):
    reference, _ = two_by_two
    config = tmp_path / "run.toml"
    config.write_text('[schedules.gu]\ntrain = {lr = 1e30}  # diverges\n', encoding="utf-8")
    out = tmp_path / "S"
    # train.threads 2 over 2 jobs: 1 thread per cell, as in the one-process sweep
    base = [sys.executable, str(REPO / "train.py"), "--config", str(config), "--compare", "fun", "gu",
            "--seeds", "2", "--output", str(out), *sets(tiny_overrides + ["train.max_steps=4"])]
    done = subprocess.run(base + ["--jobs", "2", "--set", "train.threads=2"], capture_output=True, text=True, cwd=REPO)
    assert_user_error(done.returncode, done.stderr, "1 of 2 cells failed", "gu seed2", "training diverged")
    assert "cell 2/2 gu seed2: FAILED in " in done.stderr and "cell 1/2 fun seed2: done in " in done.stderr
    sweep = strict_json(out / SWEEP)
    assert [(c["folder"], c["status"]) for c in sweep["cells"]] == [("fun/seed2", "done"), ("gu/seed2", "failed")]
    assert "training diverged" in sweep["cells"][1]["error"] and sweep["grid"]["jobs"] == 2
    assert sweep["counts"] == {"cells": 2, "done": 1, "pending": 0, "failed": 1}
    # the same configuration (1 thread) and the same results as in the one-process sweep
    assert (out / "fun/seed2/config.toml").read_text() == (reference / "fun/seed2/config.toml").read_text()
    assert results(out / "fun/seed2") == results(reference / "fun/seed2")
    assert (out / "logs/fun_seed2.log").is_file() and "error: " in (out / "logs/gu_seed2.log").read_text()
    # resuming with another --jobs is another thread count: refused, naming train.threads
    before = files_of(out)
    code, err = main(*base[2:], "--resume", "--set", "train.threads=2")
    assert_user_error(code, err, "train.threads: 1 (saved) -> 2 (now)", "--jobs")
    assert files_of(out) == before


# ------------------------------------------------------------------ --train-sizes, [train_sizes.<n>]
SIZES_TOML = """name = "sizes"
[schedule]
k = 2

[schedules.fun]
schedule = {k = 3}

[train_sizes.24]
schedule = {k = 1}

[train_sizes.48.schedules.fun]
schedule = {k = 4}
"""


def test_train_sizes_layout_and_k_per_size(tmp_path, tiny_overrides):
    config = tmp_path / "sizes.toml"
    config.write_text(SIZES_TOML, encoding="utf-8")
    overrides = [o for o in tiny_overrides if not o.startswith(("task.train.n=", "schedule.k="))] + FAST
    out = tmp_path / "S"
    code, err = main("--config", str(config), "--compare", "gu", "fun", "--train-sizes", "24", "48",
                     "--output", str(out), *sets(overrides))
    assert code == 0, err[-3000:]
    sweep = strict_json(out / SWEEP)
    expected = {"gu/n24": 1, "fun/n24": 1, "gu/n48": 2, "fun/n48": 4}  # [train_sizes.24] beats [schedules.fun]
    assert {c["folder"]: c["k"] for c in sweep["cells"]} == expected and sweep["grid"]["train_sizes"] == [24, 48]
    for folder, k in expected.items():
        config_toml = tomllib.loads((out / folder / "config.toml").read_text())
        assert config_toml["schedule"]["k"] == k and config_toml["task"]["train"]["n"] == int(folder[-2:])
        assert config_toml["name"] == f"sizes-{folder.replace('/', '-')}"
        steps = [s["step"] for s in strict_json(out / folder / "results.json")["schedule"]]
        assert steps == [s for s in range(0, 4, k)][:2]  # 2 units: one released every k steps
    # a size without a section: the file's values, and a note
    code, err = main("--config", str(config), "--schedule", "fun", "--train-sizes", "36", "--print-config",
                     *sets(overrides))
    assert code == 0 and "no [train_sizes.<n>] section for 36" in err
    assert load_config(config, ["schedule.name=fun"], train_size=36).schedule.k == 3


def test_train_size_sections_precedence_and_checks(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[train]\nlr = 1e-3\n\n[schedules.gu]\ntrain = {lr = 2e-3, epochs = 3}\n\n'
                    '[train_sizes.1000]\ntrain = {lr = 3e-3, batch_size = 16}\n\n'
                    '[train_sizes.1000.schedules.gu]\ntrain = {lr = 4e-3}\n', encoding="utf-8")
    cfg = lambda *o, n=None: load_config(path, ["schedule.name=gu", *o], train_size=n)  # noqa: E731
    assert (cfg().train.lr, cfg().train.epochs, cfg().task.train.n) == (2e-3, 3, 1000)  # defaults' n
    assert (cfg(n=1000).train.lr, cfg(n=1000).train.batch_size, cfg(n=1000).train.epochs) == (4e-3, 16, 3)
    assert load_config(path, ["schedule.name=fun"], train_size=1000).train.lr == 3e-3
    assert cfg("train.lr=5e-3", n=1000).train.lr == 5e-3  # --set wins
    assert cfg(n=7).task.train.n == 7 and cfg(n=7).train.lr == 2e-3  # no section: the file's values
    # every section is checked when the file is read, for every run, naming file, line and section
    bad = {'[train_sizes.500.schedules.fun]\nfisher = {confidence = 2}\n':
           "line 2: [train_sizes.500.schedules.fun]: fisher.confidence = 2.0: must be > 0.5 and < 1",
           '[train_sizes.500]\ntrain = {lrr = 1}\n': "line 2: [train_sizes.500]: train.lrr: unknown key 'lrr'",
           '[train_sizes.5k]\ntrain = {lr = 1}\n': "line 1: [train_sizes.5k]: a train size must be a whole number",
           '[train_sizes.500]\ntask = {kind = "qa"}\n': "not 'task' (task.train.n is the size itself)",
           '[train_sizes.500.schedules.gux]\ntrain = {lr = 1}\n': "unknown schedule 'gux' (did you mean 'gu'?)"}
    for text, message in bad.items():
        path.write_text(text, encoding="utf-8")
        for schedule in ("standard", "fun"):
            with pytest.raises(ConfigError) as info:
                load_config(path, [f"schedule.name={schedule}"])
            assert str(info.value).startswith(str(path)) and message in str(info.value), str(info.value)
    with pytest.raises(ConfigError, match="--set cannot change a \\[train_sizes.<n>\\] section"):
        load_config(None, ["train_sizes.1000.train.lr=1"])


def test_one_file_with_size_sections_gives_the_papers_per_size_configs(tmp_path):
    """configs/paper/lowdata/mbert_xnli_{1k,5k,10k}.toml as one file with [train_sizes.<n>] sections
    (Table 4 and Appendix G.3: k per size, GU's and FUN's): every size and schedule resolves to
    what the per-size file gives."""
    lowdata = REPO / "configs/paper/lowdata"
    files = {1000: lowdata / "mbert_xnli_1k.toml", 5000: lowdata / "mbert_xnli_5k.toml",
             10000: lowdata / "mbert_xnli_10k.toml"}
    text = files[1000].read_text(encoding="utf-8")
    for n, path in files.items():
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        text += f"\n[train_sizes.{n}]\nschedule = {{k = {raw['schedule']['k']}}}\n"
        for name, section in raw["schedules"].items():
            text += f"\n[train_sizes.{n}.schedules.{name}]\nschedule = {{k = {section['schedule']['k']}}}\n"
    combined = tmp_path / "mbert_xnli_sizes.toml"
    combined.write_text(text, encoding="utf-8")
    for n, path in files.items():
        for schedule in ("standard", "gu", "fun"):
            one = to_dict(load_config(combined, [f"schedule.name={schedule}"], train_size=n))
            own = to_dict(load_config(path, [f"schedule.name={schedule}"]))
            assert {**one, "name": None} == {**own, "name": None}, (n, schedule)


# ------------------------------------------------------------------ --orders
def test_orders_record_distinct_seeded_permutations_top_unit_first(tmp_path, tiny_overrides, tiny_run):
    out = tmp_path / "S"
    code, err = main("--schedule", "random", "--orders", "2", "--seeds", "3", "--output", str(out),
                     *sets(tiny_overrides + FAST))
    assert code == 0, err[-3000:]
    sweep = strict_json(out / SWEEP)
    assert [c["folder"] for c in sweep["cells"]] == ["random/order1/seed3", "random/order2/seed3"]
    for i, cell in enumerate(sweep["cells"], 1):
        config = tomllib.loads((out / cell["folder"] / "config.toml").read_text())
        assert config["schedule"]["seed"] == i == cell["order"] and config["seed"] == 3
        plan = make_schedule("random", n_units=2, k=2, seed=i).plan
        assert cell["permutation"] == [u for group in plan for u in group] == [1, 0]  # the tiny model: 2 units
        assert strict_json(out / cell["folder"] / "results.json")["schedule"][0]["units"] == [1]
    assert "note: orders 1, 2 draw the same permutation [1, 0]" in err
    # on a 12-layer model: N distinct permutations, each with the top layer first
    grid = plan_grid(None, list(tiny_run), schedules=["gu", "random"], orders=5)
    orders = [permutation(c.config, 12) for c in grid.cells if c.schedule == "random"]
    assert len(orders) == 5 and len({tuple(o) for o in orders}) == 5
    assert all(o[0] == 11 and sorted(o) == list(range(12)) for o in orders)
    assert [c.folder for c in grid.cells] == ["gu", *(f"random/order{i}" for i in range(1, 6))]


# ------------------------------------------------------------------ user errors
@pytest.mark.parametrize("args, fragments", [
    (["--compare", "gu", "--seeds", "1", "1"], ["--seeds: 1 is given twice"]),
    (["--compare", "gu", "--seeds", "-1"], ["--seeds: -1: must be >= 0"]),
    (["--compare", "gu", "--seeds", "x"], ["--seeds", "invalid int value"]),
    (["--compare", "gu", "--seeds", "1", "--seed", "3"], ["--seeds sets seed", "drop --seed"]),
    (["--compare", "gu", "--orders", "2"], ["--orders", "random"]),
    (["--compare", "random", "--orders", "0"], ["--orders 0: must be >= 1"]),
    (["--compare", "gu", "--train-sizes", "0"], ["--train-sizes: 0: must be >= 1"]),
    (["--compare", "gu", "--train-sizes", "100"], ["--train-sizes sets task.train.n", "drop --set task.train.n="]),
    (["--compare", "gu", "--seeds", "1", "--jobs", "0"], ["--jobs 0: must be >= 1"]),
    (["--compare", "gu", "fun", "--jobs", "2"], ["--jobs runs the cells of a sweep"]),
    (["--compare", "gu", "--seeds", "1", "--set", "train.lr=-1"], ["--set: train.lr = -1.0: must be > 0"]),
])
def test_every_sweep_user_error_is_one_error_line(tmp_path, tiny_overrides, args, fragments):
    code, err = main(*args, "--output", str(tmp_path / "S"), *sets(tiny_overrides))
    assert_user_error(code, err, *fragments)
    assert not (tmp_path / "S").exists()


def test_a_sweep_into_an_existing_sweep_needs_resume_or_overwrite(two_by_two, tiny_run):
    out, _ = two_by_two
    before = files_of(out)
    code, err = main("--compare", "standard", "fun", "--seeds", "1", "2", "--output", str(out),
                     *sets(list(tiny_run) + FAST))
    assert_user_error(code, err, "already exists", "--resume")
    assert files_of(out) == before


def test_a_sweep_kept_without_weights_resumes_with_its_results_standing(tmp_path, two_by_two, tiny_run):
    """A repository keeps a study's results but not its weights (checkpoint.pt, adapter/: see
    .gitignore): resuming such a sweep on a fresh clone trains nothing, keeps every result, notes
    each cell whose weights are gone, and runs the cells still to go."""
    out = tmp_path / "S"
    shutil.copytree(two_by_two[0], out)
    for cell in ("standard/seed1", "fun/seed1", "standard/seed2", "fun/seed2"):
        (out / cell / "checkpoint.pt").unlink()
        shutil.rmtree(out / cell / "adapter")
        for png in (out / cell).glob("*.png"):
            png.unlink()
    kept = {cell: results(out / cell) for cell in ("standard/seed1", "fun/seed2")}
    # a config.toml as an older version wrote it, without a key added since (at its default)
    older = (out / "fun/seed1/config.toml").read_text().replace("tensorboard = false\n", "")
    (out / "fun/seed1/config.toml").write_text(older)
    code, err = main("--compare", "standard", "fun", "--seeds", "1", "2", "--resume", "--output", str(out),
                     *sets(list(tiny_run) + FAST))
    assert code == 0, err[-3000:]
    notes = [line for line in err.splitlines() if "the results stand, the weights are not available" in line]
    assert len(notes) == 4 and all("no checkpoint.pt to rebuild them from" in line for line in notes), err[-3000:]
    assert {cell: results(out / cell) for cell in kept} == kept
    assert (out / "fun/seed1/config.toml").read_text() == older  # a finished run's config.toml stays as it ran
    assert strict_json(out / SWEEP)["counts"] == {"cells": 4, "done": 4, "pending": 0, "failed": 0}
    assert not (out / "standard/seed1/adapter").exists() and not (out / "standard/seed1/checkpoint.pt").exists()
    if plots_available() is None:
        assert (out / "fun/seed1/fisher.png").read_bytes()[:4] == b"\x89PNG"  # what could be rebuilt was
