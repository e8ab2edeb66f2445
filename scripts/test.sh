#!/usr/bin/env bash
# Set up a fresh machine and run every test. The README's test command and .ci/run both run this file.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
. .venv/bin/activate
pip install -q --upgrade pip
# torch first and pinned: an unpinned torch pulls GBs of CUDA wheels on a CPU-only machine.
pip install -q torch==2.13.0
pip install -q -e '.[all,dev]'

# checkov's pins conflict with anytune's dependencies: it lives in its own venv (tests/test_terraform.py runs it).
if [ ! -x .venv-checkov/bin/checkov ]; then
  python3 -m venv .venv-checkov
  .venv-checkov/bin/pip install -q checkov==3.3.30
fi
export CHECKOV_BIN="$PWD/.venv-checkov/bin/checkov"

# Azurite (Azure Blob storage stand-in for the Azure ML tests) comes from npm.
if [ -z "${AZURITE_BIN:-}" ] && ! command -v azurite-blob >/dev/null; then
  npm install -s --prefix "$HOME/.cache/anytune-azurite" --no-audit --no-fund azurite@3
fi

# Chromium from Debian's packages: the HTML report tests open pages in a real headless browser (Playwright
# drives this binary; it never downloads a browser of its own).
if ! command -v chromium >/dev/null && [ -z "${CHROMIUM_BIN:-}" ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "note: no chromium; the browser tests will be skipped (apt-get install chromium)" >&2
  fi
fi

# No test may reach the Hugging Face Hub: models and tokenizers are built by the tests themselves.
export HF_HUB_OFFLINE=1
pytest "$@"
