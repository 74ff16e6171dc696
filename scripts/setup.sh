#!/usr/bin/env bash
# Set up a fresh machine: system packages for the browser and PDF tests (Debian/Ubuntu, when
# run as root), a virtual environment in .venv, and the planner with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  if ! command -v chromium >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1 \
    || ! fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy"; then
    echo "setup: installing Debian chromium, poppler-utils and a CJK font (browser tests, PNG/PDF maps)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium fonts-wqy-microhei poppler-utils >/dev/null
  fi
else
  echo "setup: not root or no apt-get: install Debian's 'chromium', 'fonts-wqy-microhei' and 'poppler-utils' yourself for the browser and PDF tests"
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
echo "setup: done (.venv)"
