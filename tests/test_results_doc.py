"""docs/results.md and the study's committed reports regenerate from the committed run files.

The study (issue #15) commits each finished run's results.json, predictions, fisher.jsonl,
train_log.jsonl and config.toml under results/study/<task>/, and each task's report as written by
`python eval.py report results/study/<task>` (run from the repository root). Here:

- every committed report.json / report.md is rebuilt from the committed runs (the same function
  eval.py report calls, with its default bootstrap) and must be equal, number for number and
  line for line (the figures' file names are taken from the committed report.json: drawing them
  is the report's business, tested in test_report.py);
- every table line docs/results.md quotes from a report (between `<!-- report: results/study/<task> -->`
  and `<!-- end report -->`) is a line of that report.md, so the page can only show numbers the
  committed files give.

Until a report is committed the tests skip, saying so.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from funfisher.report import build_report
from funfisher.report.markdown import render_markdown

REPO = Path(__file__).resolve().parents[1]
STUDY = REPO / "results" / "study"
PAGE = REPO / "docs" / "results.md"
FOLDERS = sorted(path.parent.relative_to(REPO) for path in STUDY.glob("*/report.json"))
QUOTE = re.compile(r"<!-- report: (\S+) -->\n(.*?)<!-- end report -->", re.S)

no_reports = pytest.mark.skipif(not FOLDERS, reason="no study report committed yet (results/study/<task>/report.json)")


@no_reports
@pytest.mark.parametrize("folder", FOLDERS or [None], ids=str)
def test_committed_report_regenerates_from_the_committed_runs(folder, monkeypatch):
    monkeypatch.chdir(REPO)  # report.json names the folder as eval.py was given it
    committed = json.loads((REPO / folder / "report.json").read_text(encoding="utf-8"))
    report = build_report(folder)
    report.data["figures"] = committed["figures"]
    assert json.loads(json.dumps(report.data, allow_nan=False)) == committed
    assert render_markdown(report.data) == (REPO / folder / "report.md").read_text(encoding="utf-8")


@no_reports
def test_the_results_page_quotes_only_lines_of_the_reports():
    text = PAGE.read_text(encoding="utf-8")
    quotes = QUOTE.findall(text)
    assert quotes, "docs/results.md quotes no report"
    assert {Path(folder) for folder, _ in quotes} <= set(FOLDERS)
    for folder, block in quotes:
        lines = set((REPO / folder / "report.md").read_text(encoding="utf-8").splitlines())
        for line in block.strip().splitlines():
            assert not line.strip() or line in lines, f"{folder}: not a line of its report.md: {line}"
