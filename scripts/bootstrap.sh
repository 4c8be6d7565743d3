#!/usr/bin/env bash
# One-time set-up on a fresh machine: system packages (when we may install them), the venv,
# the Python dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# openclipart-png: the public-domain drawings the annotation tests and the benchmarks use.
APT_PACKAGES=(wordnet-base wordnet-sense-index chromium fonts-dejavu-core openclipart-png)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
      echo "[bootstrap] installing system packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      $SUDO apt-get update -q >/dev/null
      $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "[bootstrap] please install: ${missing[*]} (apt-get install ...)" >&2
    fi
  else
    echo "[bootstrap] no apt-get here; install WordNet 3.0 (or nltk_data/corpora/wordnet) and Chromium yourself" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[bootstrap] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip wheel setuptools
# torch/torchvision first, pinned: the CUDA build of 2.14.1 runs on CPU too and matches torchvision.
"$VENV/bin/python" -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
"$VENV/bin/python" -m pip install -q -e '.[dev]'
echo "[bootstrap] done"
