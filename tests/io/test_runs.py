"""Run folders and safe writing (funfisher.io.runs): atomic replacement, torn log lines, no silent overwrite."""
from __future__ import annotations

import os

import pytest

from funfisher.io.runs import (RunExistsError, append_jsonl, atomic_torch_save, atomic_write_json, atomic_write_text,
                            create_run_dir, read_jsonl)


def test_atomic_write_replaces_whole_file_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "results.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"b": [1, 2]})
    assert target.read_text() == '{\n  "b": [\n    1,\n    2\n  ]\n}\n'
    old = os.umask(0o022)
    try:
        atomic_write_text(target, "x")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644  # what open() would give, not mkstemp's private 0600
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]  # no temporary file left


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    atomic_write_text(target, "old\n")
    with pytest.raises(TypeError, match="not JSON serializable: object"):
        atomic_write_json(target, {"bad": object()})
    with pytest.raises(TypeError, match="cannot pickle 'generator' object"):  # fails mid-write
        atomic_torch_save(target, {"weights": [1.0], "bad": (i for i in range(3))})
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_jsonl_drops_a_torn_last_line_but_reports_a_broken_middle_line(tmp_path):
    log = tmp_path / "train_log.jsonl"
    append_jsonl(log, {"step": 1})
    append_jsonl(log, {"step": 2})
    with open(log, "a") as f:
        f.write('{"step": 3, "lo')  # a write cut off by a crash
    assert read_jsonl(log) == [{"step": 1}, {"step": 2}]
    log.write_text('{"step": 1}\n{"st\n{"step": 3}\n')
    with pytest.raises(ValueError, match=r"train_log.jsonl: line 2: broken JSON line"):
        read_jsonl(log)
    assert read_jsonl(tmp_path / "absent.jsonl") == []


def test_existing_run_folder_is_never_overwritten_silently(tmp_path):
    run = tmp_path / "run"
    create_run_dir(run)
    (run / "results.json").write_text("first")
    with pytest.raises(RunExistsError, match="--resume"):
        create_run_dir(run)
    assert create_run_dir(run, resume=True) == run and (run / "results.json").read_text() == "first"
    create_run_dir(run, overwrite=True)
    assert list(run.iterdir()) == []
    assert (tmp_path / "run.old-1" / "results.json").read_text() == "first"  # moved aside, not deleted


def test_json_is_strict_both_ways(tmp_path):
    from funfisher.io.runs import RunFileError, read_json

    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        atomic_write_json(tmp_path / "x.json", {"accuracy": float("nan")})
    assert not (tmp_path / "x.json").exists() and not list(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(ValueError):
        append_jsonl(tmp_path / "log.jsonl", {"loss": float("inf")})
    (tmp_path / "bare.json").write_text('{"accuracy": NaN}')
    with pytest.raises(RunFileError, match=r"bare.json: broken JSON: NaN is not JSON"):
        read_json(tmp_path / "bare.json")
    (tmp_path / "log.jsonl").write_text('{"loss": Infinity}\n{"loss": 1.0}\n')
    with pytest.raises(RunFileError, match=r"log.jsonl: line 1"):
        read_jsonl(tmp_path / "log.jsonl")


def test_leftovers_of_interrupted_writes_are_found_anywhere_in_the_folder(tmp_path):
    from funfisher.io.runs import remove_leftovers

    (tmp_path / "adapter").mkdir()
    stale = [tmp_path / ".checkpoint.pt.k2j3.tmp", tmp_path / "adapter" / ".adapter_config.json.x9.tmp"]
    for path in stale:
        path.write_text("half")
    (tmp_path / "results.json").write_text("{}")
    assert sorted(remove_leftovers(tmp_path)) == sorted(stale)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["results.json"]
