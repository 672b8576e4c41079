"""``twinstack cell create/list/delete``: a cell mapped to its own (migrated) database and bus, listed with its
hosts and instances and its passwords masked, deleted only once nothing is mapped to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

from tests.unit.test_cell_stores import register
from twinstack.cli import app
from twinstack.db import migrate
from twinstack.db.cell_databases import mask
from twinstack.db.session import make_engine, make_session_factory
from twinstack.db.stores.compute import SqlHostStore

runner = CliRunner()


def cell(*args: str) -> tuple[int, str]:
    done = runner.invoke(app, ["cell", *args])
    return done.exit_code, done.output


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for key in ("TWINSTACK_DATABASE_URL", "TWINSTACK_DATA_DIR"):
        monkeypatch.delenv(key, raising=False)
    yield tmp_path / "cloud"


def rows(data_dir: Path) -> dict[str, list[str]]:
    code, out = cell("list", "--data-dir", str(data_dir))
    assert code == 0, out
    return {line.split()[0]: line.split() for line in out.splitlines()[1:]}


def test_a_created_cell_has_a_migrated_database_and_is_listed_masked(data_dir: Path, tmp_path: Path) -> None:
    cell_db = tmp_path / "cells" / "cell2.db"
    code, out = cell("create", "--name", "cell2", "--database-url", f"sqlite:///{cell_db}",
                     "--transport-url", "amqp://guest:sesame@127.0.0.1:5672/cell2", "--data-dir", str(data_dir))
    assert code == 0, out
    engine = make_engine(f"sqlite:///{cell_db}")
    assert {"compute_instances", "compute_instance_actions"} <= set(inspect(engine).get_table_names())
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()
    listed = rows(data_dir)
    assert listed["cell2"][2:6] == ["enabled", "0", "0", "up"]
    assert listed["cell2"][6] == f"sqlite:///{cell_db}"
    assert listed["cell2"][7] == "amqp://guest:***@127.0.0.1:5672/cell2", "the bus password is masked"
    assert "sesame" not in " ".join(listed["cell2"])


def test_a_database_that_cannot_be_migrated_is_not_recorded(data_dir: Path) -> None:
    done = runner.invoke(app, ["cell", "create", "--name", "gone", "--database-url",
                               "postgresql+psycopg://u:hunter2@127.0.0.1:1/nope", "--data-dir", str(data_dir)])
    assert done.exit_code != 0
    assert "gone" not in rows(data_dir)


def test_database_passwords_are_masked() -> None:
    assert mask("postgresql+psycopg://u:hunter2@db.example/cell2") == "postgresql+psycopg://u:***@db.example/cell2"
    assert mask("amqp://guest:guest@mq:5672/") == "amqp://guest:***@mq:5672/"


def test_names_and_databases_in_use_are_refused(data_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c2.db'}"
    assert cell("create", "--name", "cell2", "--database-url", url, "--data-dir", str(data_dir))[0] == 0
    code, out = cell("create", "--name", "cell2", "--database-url", f"sqlite:///{tmp_path / 'other.db'}",
                     "--data-dir", str(data_dir))
    assert (code, "Cell cell2 already exists." in out) == (1, True)
    code, out = cell("create", "--name", "cell3", "--database-url", url, "--data-dir", str(data_dir))
    assert (code, "Cell cell2 already uses that database." in out) == (1, True)
    main = make_engine(f"sqlite:///{data_dir / 'twinstack.db'}")
    register(SqlHostStore(make_session_factory(main)), "h1", "cell1")
    main.dispose()
    code, out = cell("create", "--name", "cell1", "--database-url", f"sqlite:///{tmp_path / 'c1.db'}",
                     "--data-dir", str(data_dir))
    assert code == 1 and "Hosts already report cell cell1" in out


def test_delete_is_refused_while_hosts_are_mapped(data_dir: Path, tmp_path: Path) -> None:
    assert cell("create", "--name", "cell2", "--database-url", f"sqlite:///{tmp_path / 'c2.db'}",
                "--data-dir", str(data_dir))[0] == 0
    main = make_engine(f"sqlite:///{data_dir / 'twinstack.db'}")
    hosts = SqlHostStore(make_session_factory(main))
    register(hosts, "h2", "cell2")
    assert rows(data_dir)["cell2"][3] == "1"
    code, out = cell("delete", "cell2", "--data-dir", str(data_dir))
    assert code == 1 and "Cell cell2 has 1 host(s) mapped to it" in out
    with make_session_factory(main)() as session, session.begin():
        from twinstack.db.models.compute import ComputeHostRow

        session.query(ComputeHostRow).delete()
    main.dispose()
    code, out = cell("delete", "cell2", "--data-dir", str(data_dir))
    assert code == 0, out
    assert "cell2" not in rows(data_dir)
    assert cell("delete", "cell2", "--data-dir", str(data_dir))[0] == 1
