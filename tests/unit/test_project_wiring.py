"""The README's two commands are the real ones: CI runs exactly the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def shell_blocks(markdown: str, heading: str) -> list[str]:
    """The ``sh`` code blocks of the README section under ``heading``."""
    section = markdown.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def test_ci_runs_the_readmes_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    (command,) = [line for block in shell_blocks(readme, "Run every test") for line in block.splitlines()]
    assert command == "./scripts/test.sh"
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec bash scripts/test\.sh\s*$", ci, flags=re.M)
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert "pip install" in script and '-e ".[test]"' in script and "python3 -m pytest" in script


def test_the_readmes_run_command_serves_the_cloud() -> None:
    readme = (ROOT / "README.md").read_text()
    first = shell_blocks(readme, "Run a cloud")[0].strip()
    assert first == "pip install . && twinstack serve"
    assert 'twinstack = "twinstack.cli:app"' in (ROOT / "pyproject.toml").read_text()
