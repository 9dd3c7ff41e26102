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
