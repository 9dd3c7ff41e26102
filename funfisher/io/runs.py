"""Run folders and safe file writing.

A run folder (train.py writes it, `eval.py run` reads it) holds the files named below, plus
summary plots (fisher.png, schedule.png). Every file a run writes goes through `atomic_write_*`:
the data is written to a temporary file in the same folder, flushed to disk, and renamed over the
target. A run killed at any moment leaves either the old file or the new one, never half of one
(and at most a `.<name>.*.tmp` leftover, which the next start removes: `remove_leftovers`).

JSON is strict everywhere (`json_text`): NaN and infinity are not JSON, so writing one is an
error rather than a file other tools cannot read. A run folder that already exists is never
overwritten silently (`create_run_dir`), and only one process works in it at a time (`RunLock`).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import UserError

CONFIG = "config.toml"  # the resolved configuration (every key)
TRAIN_LOG = "train_log.jsonl"  # one line per training step: loss, grad norm, lr, trainable units, validation
FISHER_LOG = "fisher.jsonl"  # every tr(F) estimate, one JSON line each (also in results.json)
CHECKPOINT = "checkpoint.pt"  # everything needed to continue exactly (funfisher/train/checkpoint.py)
RESULTS = "results.json"  # what the run found (funfisher/train/results.py: RunResult)
SUMMARY = "summary.md"  # the same, for a human
WEIGHTS = "adapter"  # the learned weights (funfisher/train/trainable.py: AdapterHub format, or the whole model)
# Per-example predictions, one JSON line per example {"id", "prediction", "gold"} (funfisher/data/predictions.py),
# in <dataset>-<split>-<lang>.jsonl files (funfisher/evaluation.py: predictions_path):
PREDICTIONS = "predictions"  # the run's zero-shot evaluation (results.json's metrics)
VALIDATION_PREDICTIONS = "predictions/validation"  # the validation the run keeps (the best; records add "step")
EVAL_PREDICTIONS = "predictions/eval"  # `eval.py run` (its eval-<dataset>-<split>.json's metrics)
LOCK = ".lock"  # held (flock) by the process working in the folder; says which process that is
# Fault injection for the kill tests (tests/test_kill.py): FUNFISHER_TEST_PAUSE_WRITE=checkpoint.pt:3
# makes the 3rd atomic write of checkpoint.pt stop halfway (the temporary file written, not yet
# renamed) and wait there for ever, so that a test can kill the process in the middle of a write.
PAUSE_WRITE_ENV = "FUNFISHER_TEST_PAUSE_WRITE"
_writes: dict[str, int] = {}  # atomic writes so far, per file name (for the fault injection only)


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
            _maybe_pause(path.name, tmp)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _maybe_pause(name: str, tmp: str) -> None:
    target = os.environ.get(PAUSE_WRITE_ENV)
    if not target:
        return
    _writes[name] = _writes.get(name, 0) + 1
    file, _, nth = target.partition(":")
    if file == name and _writes[name] == int(nth or 1):
        print(f"funfisher-test: paused writing {tmp}", file=sys.stderr, flush=True)
        while True:  # until killed
            time.sleep(60)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic(path, lambda f: f.write(data), "wb")


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def json_text(obj: Any, indent: int | None = None) -> str:
    """Strict JSON: a NaN or infinity anywhere is an error (it is not JSON; producers write null)."""
    return json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False, default=_jsonable)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json_text(obj, indent=2) + "\n")


def atomic_write_jsonl(path: Path, records: list[dict]) -> None:
    atomic_write_text(path, "".join(json_text(r) + "\n" for r in records))


def atomic_save_safetensors(path: Path, state: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save

    atomic_write_bytes(path, save({k: v.contiguous() for k, v in state.items()}, metadata=metadata))


def atomic_torch_save(path: Path, obj: Any) -> None:
    _atomic(path, lambda f: torch.save(obj, f), "wb")


def append_jsonl(path: Path, record: dict) -> None:
    """Append one JSON line (logs: a torn last line on a crash is detected and dropped on read)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json_text(record) + "\n")


class RunFileError(UserError, ValueError):
    """A file in a run folder that is damaged or not what this run wrote."""


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def _read(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RunFileError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise RunFileError(f"{path}: cannot be read ({e.strerror or e})") from None


def read_json(path: Path) -> Any:
    """A strict JSON file of a run (results.json, comparison.json)."""
    try:
        return _loads(_read(path))
    except ValueError as e:
        if isinstance(e, RunFileError):
            raise
        raise RunFileError(f"{path}: broken JSON: {e}") from None


def read_jsonl(path: Path) -> list[dict]:
    """A JSON-lines log. A torn last line (a write a kill interrupted) is dropped; any other broken
    line is an error naming it."""
    if not Path(path).is_file():
        return []
    records = []
    lines = _read(path).splitlines()
    for i, line in enumerate(lines, 1):
        try:
            records.append(_loads(line))
        except ValueError as e:
            if i == len(lines):  # a write interrupted by a crash: drop it
                break
            raise RunFileError(f"{path}: line {i}: broken JSON line: {e}") from None
    return records


def _jsonable(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    if hasattr(x, "item"):
        return x.item()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


class RunExistsError(UserError, FileExistsError):
    """The output folder holds a run, and neither --resume nor --overwrite was given."""


class RunLockedError(UserError):
    """Another process is working in the run folder."""


class RunLock:
    """An exclusive lock on a run folder (flock on `<folder>/.lock`), held while a process works in it.

    The lock file says who holds it (pid, host, start time), so a second process fails at once
    naming the first. flock locks die with their process: a killed run never leaves a stale lock.

        with RunLock(folder) as lock:   # locks now if the folder exists
            ...                         # read-only checks
            lock.acquire()              # after creating the folder (no-op if already held)
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        if self.folder.is_dir():
            self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        if self._fd is not None:
            return
        path = self.folder / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise RunLockedError(f"{self.folder}: the run folder is in use by {holder}; wait for it to finish "
                                 f"(or stop it) before resuming, or pick another --output") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
                      .encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def moved(self) -> None:
        """The locked folder was moved aside (`create_run_dir(overwrite=True)`): lock the new one."""
        self.release()
        self.acquire()


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete the temporary files of atomic writes a kill interrupted (`.<name>.<random>.tmp`,
    anywhere in the run folder). Call it holding the folder's `RunLock`: then no write is running."""
    leftovers = [p for p in Path(folder).rglob(".*.tmp") if p.is_file()]
    for p in leftovers:
        p.unlink()
    return leftovers


def has_run(path: Path) -> bool:
    """Does `path` hold a run (any file but the lock)? A path that is not a folder is an error."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunExistsError(f"{path}: exists and is not a folder; pick another --output")
    return path.is_dir() and any(p.name != LOCK for p in path.iterdir())


def check_run_dir(path: Path, resume: bool = False, overwrite: bool = False) -> None:
    """Refuse (before any work) to start a run in a folder that holds one, unless told what to do."""
    if has_run(path) and not resume and not overwrite:
        raise RunExistsError(
            f"{path}: run folder already exists. Use --resume to continue it, --overwrite to move it "
            f"aside (to {Path(path).name}.old-N) and start again, or --output to pick another folder.")


def aside_path(path: Path) -> Path:
    """Where `path` goes when moved aside: `<name>.old-N`, the first N >= 1 not taken (nothing is deleted)."""
    n = 1
    while path.with_name(f"{path.name}.old-{n}").exists():
        n += 1
    return path.with_name(f"{path.name}.old-{n}")


def create_run_dir(path: Path, resume: bool = False, overwrite: bool = False, lock: RunLock | None = None) -> Path:
    """Make the run folder. An existing run needs `resume` (continue from its checkpoint) or
    `overwrite` (move the old one aside to `<name>.old-N`; nothing is deleted). `lock`: the
    folder's RunLock, taken on the folder this returns (the old one's lock went with it)."""
    path = Path(path)
    check_run_dir(path, resume, overwrite)
    moved = has_run(path) and not resume
    if moved:
        shutil.move(str(path), str(aside_path(path)))
    path.mkdir(parents=True, exist_ok=True)
    if lock is not None:
        lock.moved() if moved else lock.acquire()
    return path
