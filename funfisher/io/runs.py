"""Run folders and safe file writing.

A run folder (train.py writes it, `eval.py run` reads it) holds the files named below, plus
summary plots (fisher.png, schedule.png). Every file a run writes goes through `atomic_write_*`: the data is written to a temporary file in
the same folder, flushed to disk, and renamed over the target. A run killed at any moment leaves
either the old file or the new one, never half of one. A run folder that already exists is
never overwritten silently: `create_run_dir` refuses unless asked to resume or overwrite.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

CONFIG = "config.toml"  # the resolved configuration (every key)
TRAIN_LOG = "train_log.jsonl"  # one line per training step: loss, grad norm, lr, trainable units, validation
FISHER_LOG = "fisher.jsonl"  # every tr(F) estimate, one JSON line each (also in results.json)
CHECKPOINT = "checkpoint.pt"  # everything needed to continue exactly (funfisher/train/checkpoint.py)
RESULTS = "results.json"  # what the run found (funfisher/train/results.py: RunResult)
SUMMARY = "summary.md"  # the same, for a human
WEIGHTS = "adapter"  # the learned weights (funfisher/train/trainable.py: AdapterHub format, or the whole model)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the permissions open() would (0666 minus
        # the umask), so results written this way are as readable as any other file the user makes
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    _atomic(path, lambda f: f.write(text.encode("utf-8")), "wb")


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=_jsonable) + "\n")


def atomic_torch_save(path: Path, obj: Any) -> None:
    _atomic(path, lambda f: torch.save(obj, f), "wb")


def append_jsonl(path: Path, record: dict) -> None:
    """Append one JSON line (logs: a torn last line on a crash is detected and dropped on read)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False, default=_jsonable) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    if not Path(path).is_file():
        return []
    records = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(lines):  # a write interrupted by a crash: drop it
                break
            raise ValueError(f"{path}:{i}: broken JSON line: {e}") from e
    return records


def _jsonable(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    if hasattr(x, "item"):
        return x.item()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


class RunExistsError(FileExistsError):
    pass


def create_run_dir(path: Path, resume: bool = False, overwrite: bool = False) -> Path:
    """Make the run folder. An existing non-empty folder needs `resume` (continue from its
    checkpoint) or `overwrite` (move the old one aside to `<name>.old-N`, nothing is deleted)."""
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        if resume:
            return path
        if not overwrite:
            raise RunExistsError(
                f"{path}: run folder already exists. Use --resume to continue it, --overwrite to move it "
                f"aside (to {path.name}.old-N) and start again, or --output to pick another folder."
            )
        n = 1
        while path.with_name(f"{path.name}.old-{n}").exists():
            n += 1
        shutil.move(str(path), str(path.with_name(f"{path.name}.old-{n}")))
    path.mkdir(parents=True, exist_ok=True)
    return path
