"""What a finished run found: `RunResult`, written to and read from results.json, and summary.md.

results.json is `RunResult.to_json()`, key for key (the README lists what outside checks read):

    schedule               [{"step", "units"[, "ranking"]}]: Algorithm 1's selections (FUN: its tr(F) ranking)
    fisher                 every tr(F) estimate, as fisher.jsonl holds it: {"purpose" ("select" | "track"),
                           "step", "values" ({unit: tr(F)}), ...the estimator's details}
    fisher_summary         FUN's estimates: batches per decision, why each stopped, the [fisher] settings
    trainable_parameters   {"head": N, "units": {"0": n0, ...}}: what the optimizer updates
    metrics                {language: {metric: value}} (or {"skipped": why}), zero-shot
    xling_avg              the cross-lingual average without the source language
    xling_avg_over         which languages it covers, e.g. "9 of 11: it, ta skipped"
    best                   {"step", "validation"}: the English validation checkpoint kept
    config                 the resolved configuration (as config.toml)
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..evaluation import results_table
from ..runconfig import FisherConfig, RunConfig, from_dict, to_dict
from ..io.runs import RESULTS, RunFileError, atomic_write_json, read_json


@dataclass
class RunResult:
    """One run's results.json (module docstring)."""

    name: str
    schedule_name: str
    schedule: list[dict[str, Any]]
    fisher: list[dict[str, Any]]
    fisher_summary: dict[str, Any]
    trainable_parameters: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    xling_avg: float | None
    xling_avg_over: dict[str, Any]
    source_language: str
    best: dict[str, Any]
    steps: int
    notes: list[str]
    model: str  # where the pretrained model came from
    timings_seconds: dict[str, float]
    versions: dict[str, str]
    config: RunConfig

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["config"] = to_dict(self.config)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = RESULTS) -> RunResult:
        names = [f.name for f in fields(cls)]
        if not isinstance(data, dict) or sorted(data) != sorted(names):
            found = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise RunFileError(f"{where}: not a results.json of this funfisher version (keys {found}, "
                               f"expected {sorted(names)})")
        return cls(**{**data, "config": from_dict(data["config"], f"{where}: config")})

    def write(self, run_dir: Path) -> None:
        atomic_write_json(run_dir / RESULTS, self.to_json())

    @classmethod
    def read(cls, run_dir: Path) -> RunResult:
        path = run_dir / RESULTS
        return cls.from_json(read_json(path), str(path))

    def summary(self, plots_note: str | None = None) -> str:
        """summary.md: the setup, the per-language table, the schedule, the notes."""
        cfg = self.config
        lines = [f"# {self.name}: schedule `{self.schedule_name}`", "",
                 f"Model `{cfg.model.name}`, task adapter `{cfg.adapters.kind}`, {self.steps} steps, "
                 f"best English validation {self.best['validation']:.2f} at step {self.best['step']}.", "",
                 results_table(self.metrics, self.source_language, cfg.task.kind), "",
                 "Schedule (step: units): " + ", ".join(f"{r['step']}: {r['units']}" for r in self.schedule), ""]
        lines += [f"- {n}" for n in self.notes] + ([f"- {plots_note}"] if plots_note else [])
        return "\n".join(lines) + "\n"


def fisher_summary(fisher_log: list[dict[str, Any]], fc: FisherConfig) -> dict[str, Any]:
    """FUN's selection estimates at a glance, with the stopping rule's settings."""
    select = [r for r in fisher_log if r.get("purpose") == "select"]
    return {
        "select_estimates": len(select),
        "batches_per_decision": [r["n_batches"] for r in select],
        "stop_reasons": [r["reason"] for r in select],
        "max_batches": fc.max_batches, "min_batches": fc.min_batches,
        "confidence": fc.confidence, "tolerance": fc.tolerance,
        "labels": fc.labels, "method": fc.method,
    }
