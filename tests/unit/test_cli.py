"""The ``twinstack`` command: bootstrap, config show and db upgrade, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import BaseModel
from sqlalchemy import inspect
from typer.testing import CliRunner

from twinstack.cli import app
from twinstack.config import Settings
from twinstack.db import migrate
from twinstack.db.session import make_engine

ROOT = Path(__file__).resolve().parents[2]


def twinstack(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m twinstack.cli`` in ``cwd`` with the code under test (not whatever is installed)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TWINSTACK_")}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    full_env["TWINSTACK_IDENTITY__PASSWORD_KDF_N"] = "1024"
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "twinstack.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group under ``command``, with the words that reach it."""
    yield path, command
    if hasattr(command, "list_commands"):
        context = type(command).context_class(command)
        for name in command.list_commands(context):
            yield from commands(command.get_command(context, name), (*path, name))


def test_help_is_everywhere(tmp_path: Path) -> None:
    every = list(commands(typer.main.get_command(app)))
    assert {" ".join(p) for p, _ in every} >= {"", "serve", "bootstrap", "config show", "db upgrade", "cell list"}
    runner = CliRunner()
    for path, command in every:
        done = runner.invoke(app, [*path, "--help"])
        assert done.exit_code == 0, (path, done.output)
        assert "Usage" in done.output and command.help, path
        undocumented = [p.name for p in command.params if p.name != "help" and not getattr(p, "help", None)]
        assert undocumented == [], (path, undocumented)
    as_a_user = twinstack("db", "upgrade", "--help", cwd=tmp_path)
    assert as_a_user.returncode == 0 and "Usage" in as_a_user.stdout


def test_bootstrap_generates_a_password_once_and_keeps_it(tmp_path: Path) -> None:
    first = twinstack("bootstrap", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    clouds = tmp_path / "twinstack-data" / "clouds.yaml"
    assert f"export OS_CLIENT_CONFIG_FILE={clouds}" in first.stdout
    assert "export OS_CLOUD=twinstack" in first.stdout
    password = yaml.safe_load(clouds.read_text())["clouds"]["twinstack"]["auth"]["password"]
    assert len(password) >= 16
    assert oct(clouds.stat().st_mode & 0o777) == "0o600"

    second = twinstack("bootstrap", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert yaml.safe_load(clouds.read_text())["clouds"]["twinstack"]["auth"]["password"] == password


def test_config_show_lists_every_option_with_toml_and_environment_applied(tmp_path: Path) -> None:
    (tmp_path / "twinstack.toml").write_text('region = "RegionTwo"\n[identity]\ntoken_ttl_seconds = 600\n')
    done = twinstack("config", "show", cwd=tmp_path, env={"TWINSTACK_PORT": "9999"})
    assert done.returncode == 0, done.stderr
    assert "region = 'RegionTwo'" in done.stdout
    assert "identity.token_ttl_seconds = 600" in done.stdout
    assert "port = 9999" in done.stdout
    assert "default: 8000" in done.stdout
    assert "How long an issued token is valid." in done.stdout


def option_names(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every option a TOML file may set, walked from the settings models themselves."""
    names: list[str] = []
    for name, field in model.model_fields.items():
        dotted = prefix + (field.alias or name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += option_names(annotation, dotted + ".")
            continue
        names.append(dotted)
        (entry,) = typing.get_args(annotation) if typing.get_origin(annotation) is list else (None,)
        if isinstance(entry, type) and issubclass(entry, BaseModel):
            names += option_names(entry, dotted + "[].")
    return names


def test_config_show_prints_every_option_with_its_default_and_help(tmp_path: Path) -> None:
    done = twinstack("config", "show", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    shown: dict[str, tuple[str, str]] = {}
    for index, line in enumerate(lines):
        if not line.startswith(" "):
            name = line.split(" = ")[0].removesuffix("  (in each entry)")
            shown[name] = (lines[index + 1], lines[index + 2])
    expected = option_names(Settings)
    assert len(expected) > 70
    assert list(shown) == expected
    for name, (default, help_text) in shown.items():
        assert default.startswith("    default: "), name
        assert help_text.startswith("    ") and help_text.strip() and not help_text.strip().startswith("default:"), name
    assert shown["logging.handlers[].class"] == (
        "    default: 'logging.StreamHandler'",
        "    Dotted path of a logging.Handler subclass, built-in or your own.",
    )


def test_config_rejects_an_unknown_option_clearly(tmp_path: Path) -> None:
    (tmp_path / "twinstack.toml").write_text("no_such_option = 1\n")
    done = twinstack("config", "show", cwd=tmp_path)
    assert done.returncode != 0
    assert "no_such_option" in done.stderr


def test_config_show_lists_the_volume_schedulers_cinder_options(tmp_path: Path) -> None:
    (tmp_path / "twinstack.toml").write_text(
        '[volume]\nscheduler_default_filters = ["CapacityFilter"]\ncapacity_weight_multiplier = -1.0\n')
    done = twinstack("config", "show", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "volume.scheduler_default_filters = ('CapacityFilter',)" in done.stdout
    assert "volume.scheduler_default_weighers = ('CapacityWeigher',)" in done.stdout
    assert "volume.capacity_weight_multiplier = -1.0" in done.stdout
    assert "volume.allocated_capacity_weight_multiplier = -1.0" in done.stdout


def test_an_unknown_volume_filter_is_refused_before_anything_starts(tmp_path: Path) -> None:
    done = twinstack("config", "show", cwd=tmp_path,
                     env={"TWINSTACK_VOLUME__SCHEDULER_DEFAULT_FILTERS": '["CapacityFilter", "RamFilter"]'})
    assert done.returncode != 0
    assert "unknown volume scheduler filters: RamFilter" in done.stderr


def test_db_upgrade_reports_the_head_revision(tmp_path: Path) -> None:
    done = twinstack("db", "upgrade", "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"Database at revision {migrate.head_revision()}" in done.stdout
    assert (tmp_path / "d" / "twinstack.db").exists()


def test_db_upgrade_migrates_a_database_url_on_sqlite_and_postgresql(tmp_path: Path, database_url: str) -> None:
    for _ in range(2):  # the second run finds the database up to date and leaves it so
        done = twinstack("db", "upgrade", "--database-url", database_url, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"Database at revision {migrate.head_revision()}" in done.stdout
    engine = make_engine(database_url)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert "identity_users" in inspect(engine).get_table_names()
    engine.dispose()
