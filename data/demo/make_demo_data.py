"""Make the small XNLI sample shipped for the demo (data/demo/xnli), from a full XTREME-format copy.

    python data/demo/make_demo_data.py [--source ../shared/data] [--dev-rows 400] [--train-rows 2000]

Keeps the original file formats (XTREME per-language TSV: no header, tab-separated, csv-quoted,
CRLF) so the ordinary readers load it: a seeded random subset of row indices, the same rows in
every language (XNLI rows are parallel), in their original order. Training data comes from the
labelled English *test* split (test-en.tsv + test-labels.derived.tsv), as in the CPU configs,
since MNLI is not available offline; validation and zero-shot evaluation use the dev split.
"""
from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

LANGS = "en ar bg de el es fr hi ru sw th tr ur vi zh".split()
HERE = Path(__file__).resolve().parent


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f, delimiter="\t"))


def write_rows(path: Path, rows: list[list[str]], lineterminator: str = "\r\n") -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter="\t", lineterminator=lineterminator).writerows(rows)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--source", type=Path, default=HERE.parents[2] / "shared" / "data")
    p.add_argument("--dev-rows", type=int, default=400)
    p.add_argument("--train-rows", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    src, out = args.source / "xnli", HERE / "xnli"
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    dev_idx = sorted(rng.sample(range(2490), args.dev_rows))
    test_idx = sorted(rng.sample(range(5010), args.train_rows))
    for lang in LANGS:
        rows = read_rows(src / f"dev-{lang}.tsv")
        write_rows(out / f"dev-{lang}.tsv", [rows[i] for i in dev_idx])
    rows = read_rows(src / "test-en.tsv")
    write_rows(out / "test-en.tsv", [rows[i] for i in test_idx])
    labels = read_rows(src / "test-labels.derived.tsv")  # header + one row per test row (LF line ends)
    write_rows(out / "test-labels.derived.tsv", [labels[0]] + [labels[1 + i] for i in test_idx], lineterminator="\n")
    (out / "LICENSE").write_text((src / "LICENSE").read_text(encoding="utf-8"), encoding="utf-8")
    print(f"wrote {out}: dev {args.dev_rows} rows x {len(LANGS)} languages, test-en {args.train_rows} rows")


if __name__ == "__main__":
    main()
