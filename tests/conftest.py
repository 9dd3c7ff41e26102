"""Shared test helpers: where the real datasets live, and skip markers for optional extras.

`../shared/data` (beside the repository) holds real copies of the benchmark files. A user's clone
usually does not have it: tests that need it are skipped with a reason, never failed.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FUNFISHER_TEST_DATA", REPO_ROOT.parent / "shared" / "data"))


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real datasets, or skip the test when it is absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (set FUNFISHER_TEST_DATA to a copy of shared/data)")
    return SHARED_DATA


# A training run small enough for a test: the tiny BERT fixture (2 layers, hidden 32) on the XNLI
# sample shipped in data/demo, 10 steps. Tests add or override keys with `tiny_config(...)`.
TINY_RUN = [
    f"model.name={REPO_ROOT / 'tests/fixtures/tiny-bert/classification'}",
    f"task.data_dir={REPO_ROOT / 'data/demo'}",
    "task.max_length=32", "task.eval_n=24", "task.train.n=48", "task.evaluate.languages=['en', 'de', 'sw']",
    "train.max_steps=10", "train.batch_size=8", "train.eval_every=3", "train.checkpoint_every=3",
    "schedule.k=2", "fisher.max_batches=3", "fisher.min_batches=2", "fisher.batch_size=8", "fisher.track_every=4",
]


@pytest.fixture(scope="session")
def tiny_run() -> tuple[str, ...]:
    """TINY_RUN for session- and module-scoped fixtures (read-only)."""
    return tuple(TINY_RUN)


@pytest.fixture
def tiny_overrides() -> list[str]:
    """The TINY_RUN overrides, as `--set` values for the command line."""
    return list(TINY_RUN)


@pytest.fixture
def tiny_config():
    """`tiny_config("schedule.name=fun", ...)`: the TINY_RUN configuration plus overrides."""
    from funfisher.runconfig import load_config

    return lambda *extra: load_config(None, TINY_RUN + list(extra))
