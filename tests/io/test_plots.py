"""PNG plots (funfisher.io.plots): written when matplotlib is there, skipped with a note when not."""
from __future__ import annotations

import sys

import pytest

from funfisher.io.plots import plot_comparison, plot_fisher, plot_schedule, plots_available

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

FISHER_LOG = [
    {"step": 0, "purpose": "select", "values": {"0": 1e-3, "1": 2e-3, "2": 3e-3}},
    {"step": 5, "purpose": "track", "values": {"0": 1e-3, "1": 2e-3, "2": 3e-3}, "mean_trainable": 3e-3},
    {"step": 10, "purpose": "track", "values": {"0": 2e-3, "1": 4e-3, "2": 5e-3}, "mean_trainable": 4.5e-3},
]
SCHEDULE_LOG = [{"step": 0, "units": [2]}, {"step": 4, "units": [1]}, {"step": 8, "units": [0]}]


def test_without_matplotlib_plots_are_skipped_with_a_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    assert plots_available() == "matplotlib is not installed (pip install matplotlib): plots skipped"


@pytest.fixture
def matplotlib_ready():
    pytest.importorskip("matplotlib", reason="matplotlib (an optional extra) is not installed")
    assert plots_available() is None


def is_png(path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def test_each_plot_writes_a_png_and_nothing_else(matplotlib_ready, tmp_path):
    assert plot_fisher(FISHER_LOG, SCHEDULE_LOG, 3, tmp_path / "fisher.png", title="tr(F)")
    assert plot_schedule(SCHEDULE_LOG, 3, 4, tmp_path / "schedule.png")
    table = {"standard": {"en": 50.0, "de": 45.0}, "fun": {"en": 51.0, "de": 47.5}}
    assert plot_comparison(table, tmp_path / "comparison.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["comparison.png", "fisher.png", "schedule.png"]
    assert all(is_png(p) for p in tmp_path.iterdir())


def test_plots_without_data_return_false_and_write_nothing(matplotlib_ready, tmp_path):
    only_selection = [r for r in FISHER_LOG if r["purpose"] == "select"]
    assert not plot_fisher(only_selection, SCHEDULE_LOG, 3, tmp_path / "fisher.png")  # no tracking records
    assert not plot_schedule([], 3, 4, tmp_path / "schedule.png")
    assert not plot_comparison({}, tmp_path / "comparison.png")
    assert list(tmp_path.iterdir()) == []
