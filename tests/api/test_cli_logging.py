"""Log handlers come from configuration: a served cloud logs each request through the handlers its TOML names.

The TOML names a standard ``logging.FileHandler`` and a user's own handler class (this module's
:class:`JsonLinesHandler`, importable by its dotted path like any user's would be); the real
``openstack`` CLI makes the requests.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import OpenStackCLI, Served, serve

pytestmark = pytest.mark.slow


class JsonLinesHandler(logging.Handler):
    """A custom handler: one JSON object per record, appended to ``path``."""

    def __init__(self, path: str, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.path = Path(path)

    def emit(self, record: logging.LogRecord) -> None:
        line = json.dumps({"logger": record.name, "level": record.levelname, "message": record.getMessage()})
        with self.path.open("a") as out:
            out.write(line + "\n")


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    folder = tmp_path_factory.mktemp("logged")
    config = folder / "twinstack.toml"
    config.write_text(f"""
[logging]
level = "INFO"

[[logging.handlers]]
class = "logging.FileHandler"
options = {{ filename = "{folder / "requests.log"}" }}

[[logging.handlers]]
class = "{__name__}.JsonLinesHandler"
level = "INFO"
options = {{ path = "{folder / "requests.jsonl"}" }}
""")
    running = serve(folder, env={"TWINSTACK_CONFIG": str(config)})
    yield running, folder
    running.process.terminate()
    running.process.wait(10)


def test_each_request_reaches_every_configured_handler(logged: tuple[Served, Path]) -> None:
    served, folder = logged
    token = OpenStackCLI(served).json("token", "issue")

    plain = (folder / "requests.log").read_text().splitlines()
    issued = [line for line in plain if "POST /identity/v3/auth/tokens status=201" in line]
    assert issued, plain
    assert f"user={token['user_id']} project={token['project_id']}" in issued[-1]
    assert " INFO twinstack.api.requests req-" in issued[-1]

    records = [json.loads(line) for line in (folder / "requests.jsonl").read_text().splitlines()]
    mine = [r for r in records if r["logger"] == "twinstack.api.requests"]
    assert any("POST /identity/v3/auth/tokens status=201" in r["message"] for r in mine)
    assert all(r["level"] == "INFO" for r in mine)
