"""Fixtures for the adapter tests.

- `fixtures_dir`: the golden files made by make_fixtures.py with AdapterHub `adapters` 1.3.0 (always there).
- `load_tiny`: load an HF-style folder with funfisher's loader.
- `reflib`: reference_lib.py (the `adapters`/`transformers` side); skips when the test extras are missing.
- `e5`: the real multilingual-e5-small weights (offline packages); skips when they are not installed.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"


def _missing(*modules: str) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not (FIXTURES / "bert" / "reference.safetensors").is_file():
        pytest.fail(f"golden fixtures missing under {FIXTURES}; run tests/adapters/make_fixtures.py")
    return FIXTURES


@pytest.fixture(scope="session")
def load_tiny():
    from funfisher.io.hub import load_folder

    def load(folder: Path):
        return load_folder(Path(folder), None, {"kind": "local", "path": str(folder)})

    return load


@pytest.fixture(scope="session")
def reflib():
    missing = _missing("transformers", "adapters")
    if missing:
        pytest.skip(f"test extra(s) {missing} not installed: live comparison with AdapterHub adapters 1.3.0 skipped")
    spec = importlib.util.spec_from_file_location("funfisher_adapters_reference_lib", HERE / "reference_lib.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
