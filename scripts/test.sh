#!/usr/bin/env bash
# The one test command: installs what the tests need (system and Python), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh
python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
python3 -m pytest -n 2 --dist loadfile -p no:cacheprovider "$@"
