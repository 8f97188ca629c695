#!/usr/bin/env bash
# Create .venv with the pinned dependencies and the onehead package (idempotent).
#   bash scripts/setup.sh                  # everything as pinned in requirements.txt
#   bash scripts/setup.sh --system-torch   # reuse the interpreter's own torch/torchvision when they fit
#                                          # (scripts/torch_fits.py), install only the other requirements:
#                                          # on Colab this skips a multi-GB CUDA torch download
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
REQUIREMENTS=requirements.txt
RUNTIME_SITE=""
if [ "${1:-}" = "--system-torch" ] && RUNTIME_SITE=$("$PYTHON" scripts/torch_fits.py); then
  REQUIREMENTS=.venv/requirements-without-torch.txt
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if [ -n "$RUNTIME_SITE" ]; then
  # the runtime's packages come after the venv's own, as with `venv --system-site-packages`
  VENV_SITE=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_path('purelib'))")
  echo "$RUNTIME_SITE" > "$VENV_SITE/onehead-runtime-packages.pth"
  grep -vE '^(torch|torchvision)==' requirements.txt > "$REQUIREMENTS"
fi
.venv/bin/pip install --quiet --upgrade pip "setuptools>=68"   # the build backend -e . needs (pyproject.toml)
.venv/bin/pip install --quiet -r "$REQUIREMENTS"
.venv/bin/pip install --quiet --no-deps --no-build-isolation -e .
.venv/bin/python -c "import torch, torchvision; print('setup: torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())"
