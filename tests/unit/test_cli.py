"""The ``twinstack`` command: bootstrap, config show and db upgrade, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from twinstack.db import migrate


def twinstack(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TWINSTACK_")}
    full_env["TWINSTACK_IDENTITY__PASSWORD_KDF_N"] = "1024"
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "twinstack.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=120)


def test_help_is_everywhere(tmp_path: Path) -> None:
    for command in ([], ["serve"], ["bootstrap"], ["config", "show"], ["db", "upgrade"]):
        done = twinstack(*command, "--help", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "Usage" in done.stdout


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


def test_config_rejects_an_unknown_option_clearly(tmp_path: Path) -> None:
    (tmp_path / "twinstack.toml").write_text('no_such_option = 1\n')
    done = twinstack("config", "show", cwd=tmp_path)
    assert done.returncode != 0
    assert "no_such_option" in done.stderr


def test_db_upgrade_reports_the_head_revision(tmp_path: Path) -> None:
    done = twinstack("db", "upgrade", "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"Database at revision {migrate.head_revision()}" in done.stdout
    assert (tmp_path / "d" / "twinstack.db").exists()
