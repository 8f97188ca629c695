#!/usr/bin/env bash
# Set up, then run the test suite: unit tests and a tiny end-to-end `dvc repro`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
python -m pytest -q -p no:cacheprovider "$@"
