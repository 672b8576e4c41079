"""The code stays clean: ruff, mypy --strict and the import-linter contracts of DESIGN.md rule 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_import_contracts_keep_the_control_plane_off_the_host_backends() -> None:
    done = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" not in done.stdout.lower().replace("0 broken", "")


def test_ruff_is_clean() -> None:
    done = run("ruff", "check", "twinstack", "tests", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_is_clean() -> None:
    done = run("mypy", "twinstack", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr
