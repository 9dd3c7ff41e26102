"""train.tensorboard: a run's records as TensorBoard scalars (funfisher/io/tensorboard.py), read
back from the event files with TensorBoard's own reader and compared with train_log.jsonl,
fisher.jsonl and the schedule log. Event files store scalars as float32, hence rel 1e-6."""
from __future__ import annotations

import json
import sys

import pytest

from funfisher.io.runs import FISHER_LOG, TRAIN_LOG
from funfisher.io.tensorboard import FOLDER, TensorBoardMissingError, require_tensorboard
from funfisher.train import run_one

accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                  reason="tensorboard is an optional extra (pip install tensorboard)")


def events(run_dir):
    acc = accumulator.EventAccumulator(str(run_dir / FOLDER), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    scalars = {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}
    texts = {e.step: e.tensor_proto.string_val[0].decode() for e in acc.Tensors("unfreeze/text_summary")}
    return scalars, texts


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_fun_run_on_the_board_is_its_logs(tiny_config, tmp_path):
    result = run_one(tiny_config("schedule.name=fun", "train.tensorboard=true"), tmp_path / "run")
    scalars, texts = events(tmp_path / "run")
    log = lines(tmp_path / "run" / TRAIN_LOG)
    assert scalars["train/loss"] == pytest.approx({r["step"]: r["loss"] for r in log}, rel=1e-6)
    assert scalars["train/lr"] == pytest.approx({r["step"]: r["lr"] for r in log}, rel=1e-6)
    assert scalars["train/grad_norm"] == pytest.approx({r["step"]: r["grad_norm"] for r in log}, rel=1e-6)
    assert scalars["train/trainable_units"] == {r["step"]: len(r["trainable"]) for r in log}
    assert scalars["validation/accuracy"] == pytest.approx({r["step"]: r["val"] for r in log if "val" in r}, rel=1e-6)
    fisher = lines(tmp_path / "run" / FISHER_LOG)
    tracked = [r for r in fisher if r["purpose"] == "track"]
    assert tracked and all(scalars[f"fisher/unit_{u}"][r["step"]] == pytest.approx(v, rel=1e-6)
                           for r in tracked for u, v in r["values"].items())
    assert scalars["fisher/sum"] == pytest.approx({r["step"]: sum(r["values"].values()) for r in tracked}, rel=1e-6)
    selects = [r for r in fisher if r["purpose"] == "select"]
    assert selects and all(scalars[f"fisher_select/unit_{u}"][r["step"]] == pytest.approx(v, rel=1e-6)
                           for r in selects for u, v in r["values"].items())
    assert texts == {r["step"]: f"step {r['step']}: units {', '.join(map(str, r['units']))}" for r in result.schedule}


def test_off_by_default(tiny_config, tmp_path):
    run_one(tiny_config(), tmp_path / "run")
    assert not (tmp_path / "run" / FOLDER).exists()


def test_a_resumed_run_logs_each_step_once(tiny_config, tmp_path):
    """Killed after step 6 (its checkpoint; checkpoint_every 3), resumed: the board shows every
    step once, with the uninterrupted run's values."""
    from funfisher.train import prepare, train

    config = tiny_config("schedule.name=gu", "train.tensorboard=true")
    whole = run_one(config, tmp_path / "whole")
    run = prepare(config)
    (tmp_path / "split").mkdir()
    train(run, tmp_path / "split", stop_after=7)  # logs step 7 after the step-6 checkpoint, then "dies"
    run = prepare(config)
    train(run, tmp_path / "split", resume=True)
    assert run.step == whole.steps
    resumed, _ = events(tmp_path / "split")
    uninterrupted, _ = events(tmp_path / "whole")
    assert sorted(resumed["train/loss"]) == list(range(1, whole.steps + 1))
    assert resumed["train/loss"] == pytest.approx(uninterrupted["train/loss"], rel=1e-6)


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    with pytest.raises(TensorBoardMissingError, match=r"pip install tensorboard"):
        require_tensorboard()
