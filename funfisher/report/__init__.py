"""`eval.py report FOLDER`: the paper's tables and figures from a folder of finished runs.

    python eval.py report runs/S [--bootstrap 2000] [--bootstrap-seed 0] [--early-steps N] [--no-plots]

writes FOLDER/report.md, FOLDER/report.json (strict JSON, atomic) and PNG figures next to them.
FOLDER is any folder of finished runs: every results.json below it is one run (a sweep
`S/<schedule>/[n<size>/]seed<k>/`, `S/random/order<i>/seed<k>/`, or a `train.py --compare`
folder `S/<schedule>/`). Folders moved aside by --overwrite (`*.old-N`) are left out, and
unfinished runs (a config.toml but no results.json) are listed in the notes.

The package, in the order the numbers are made:

=================  ================================================================================
`runs`             one run: results.json and its predictions, every number recomputed and checked;
                   the groups (schedule, train size, order) and the rules on their configurations
`curves`           tr(F) curves (Figure 3), unfreezing orders and Kendall tau (Figure 5), the
                   random-order study (Section 5.2, Figure 4)
`aggregate`        mean ± std, Lowest, paired bootstrap differences, cost; `build_report`
`figures`          the PNGs (`io.plots`)
`markdown`         report.md
=================  ================================================================================

Every number is recomputed from the per-example scores of the saved predictions
(`funfisher.data.predictions.per_example_scores`, the same scoring results.json was made with) and
checked against results.json: a report never differs from its runs. The statistics are defined in
`funfisher.report.aggregate`, the grouping rules in `funfisher.report.runs`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..io.runs import atomic_write_json, atomic_write_text
from .aggregate import DEFAULT_BOOTSTRAP, DEFAULT_BOOTSTRAP_SEED, Report, build_report
from .figures import make_figures
from .markdown import mean_pm_std, render_markdown
from .runs import ReportError

REPORT_JSON = "report.json"
REPORT_MD = "report.md"

__all__ = ["REPORT_JSON", "REPORT_MD", "Report", "ReportError", "build_report", "main", "write_report"]


def write_report(folder: Path, *, n_boot: int = DEFAULT_BOOTSTRAP, bootstrap_seed: int = DEFAULT_BOOTSTRAP_SEED,
                 early_steps: int | None = None, plots: bool = True) -> dict[str, Any]:
    """`build_report`, the figures, then report.md and report.json (atomic). Returns report.json's data."""
    report = build_report(folder, n_boot=n_boot, bootstrap_seed=bootstrap_seed, early_steps=early_steps)
    if plots:
        from ..io.plots import plots_available

        reason = plots_available()
        if reason is None:
            report.data["figures"] = make_figures(report)
        else:
            report.notes.append(f"figures: {reason}")
    else:
        report.notes.append("figures: not drawn (--no-plots)")
    atomic_write_text(report.folder / REPORT_MD, render_markdown(report.data))
    atomic_write_json(report.folder / REPORT_JSON, report.data)
    return report.data



# ---------------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", type=Path, help="a folder of finished runs (a sweep or a --compare folder)")
    p.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP, metavar="B",
                   help=f"bootstrap replicates for the paired intervals (default {DEFAULT_BOOTSTRAP})")
    p.add_argument("--bootstrap-seed", type=int, default=DEFAULT_BOOTSTRAP_SEED,
                   help=f"seed of the bootstrap's random numbers (default {DEFAULT_BOOTSTRAP_SEED})")
    p.add_argument("--early-steps", type=int, default=None, metavar="N",
                   help="random orders: the early window of the tr(F) area (default: (units - 1) * k)")
    p.add_argument("--no-plots", action="store_true", help="write report.md and report.json only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eval.py report", description="tables, paired statistics and figures "
                                     "from a folder of finished runs (writes report.md, report.json, PNGs)")
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """`eval.py report FOLDER ...` (argv without the "report")."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.bootstrap < 1:
        parser.error("--bootstrap must be >= 1")
    if args.early_steps is not None and args.early_steps < 1:
        parser.error("--early-steps must be >= 1")
    try:
        data = write_report(args.folder, n_boot=args.bootstrap, bootstrap_seed=args.bootstrap_seed,
                            early_steps=args.early_steps, plots=not args.no_plots)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, e in data["schedules"].items():
        print(f"{name}: average {mean_pm_std(e['xling_avg'])} over {e['n_seeds']} seed(s)")
    print(f"written: {args.folder / REPORT_MD}, {args.folder / REPORT_JSON}"
          + "".join(f", {name}" for name in data["figures"]))
    return 0
