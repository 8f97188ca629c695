#!/usr/bin/env bash
# Set up, then run the full default pipeline: download → 3 stages → evaluate → report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
dvc repro "$@"
python -m onehead.summary      # the results table and the report's path
