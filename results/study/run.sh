#!/usr/bin/env bash
# The study's sweeps (docs/results.md), one after the other, each resumable: run this again after
# a stop and every sweep continues where it stopped (finished cells are kept, a killed cell goes
# on from its checkpoint). From the repository root:
#
#   bash results/study/run.sh               # all sweeps, in the order below
#   bash results/study/run.sh xcopa         # the sweeps whose output contains "xcopa"
#
# The commands are the study configs' header commands (configs/study/*.toml); tests/test_configs.py
# checks that those parse and resolve. Reports: python eval.py report results/study/<task>.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}
only=${1:-}

sweep() {  # sweep OUTPUT ARGS...: train.py with --resume once OUTPUT holds a sweep
  local output=$1; shift
  [[ -z "$only" || "$output" == *"$only"* ]] || return 0
  local resume=()
  [[ -f "$output/sweep.json" ]] && resume=(--resume)
  echo "== $(date -u +%FT%TZ) $output" >&2
  "$python" train.py "$@" --output "$output" "${resume[@]}"
}

sweep results/study/xnli/n2000 --config configs/study/xnli.toml --compare standard lpft gu fun random \
    --train-sizes 2000 --seeds 1 2 3 4 5
sweep results/study/xcopa/main --config configs/study/xcopa.toml --compare standard lpft gu fun random \
    --seeds 1 2 3 4 5
sweep results/study/xnli/reference --config configs/study/xnli.toml --compare fun --train-sizes 2000 \
    --seeds 1 2 3 --set fisher.method=batch --set fisher.labels=argmax --set fisher.max_batches=41 \
    --set fisher.min_batches=41
sweep results/study/xnli/n5000 --config configs/study/xnli.toml --compare standard gu fun \
    --train-sizes 5000 --seeds 1 2 3
