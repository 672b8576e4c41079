"""Fixtures shared by every test: clouds on SQLite or PostgreSQL, an in-process client, a served cloud.

``cloud`` builds a fresh bootstrapped cloud in one call; ``api`` drives it in-process over ASGI;
``served`` starts the real ``twinstack serve`` on a free port, and ``openstack`` runs the real CLI
from PyPI against it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text

from benchmarks.serving import launch_serve
from tests.osc_runner import run_openstack
from twinstack.api.app import create_app
from twinstack.cloud import Cloud, open_cloud
from twinstack.config import IdentitySettings, Settings
from twinstack.core.clock import ManualClock
from twinstack.setup_cloud import bootstrap

POSTGRES_URL = os.environ.get("TWINSTACK_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ADMIN_PASSWORD = "admin-secret"
FAST_KDF = 2**10


def postgres_database() -> str:
    """A new, empty PostgreSQL database for one test (dropped by the caller's finaliser)."""
    name = f"ts_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name


def drop_postgres_database(name: str) -> None:
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def make_settings(tmp_path: Path, database_url: str | None = None, **identity: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        port=8000,
        identity=IdentitySettings(admin_password=ADMIN_PASSWORD, password_kdf_n=FAST_KDF, **identity),
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs twice: on SQLite and on the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cloud.db'}"
        return
    name = postgres_database()
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        drop_postgres_database(name)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def cloud_on_each_database(tmp_path: Path, clock: ManualClock, database_url: str) -> Iterator[Cloud]:
    """A bootstrapped cloud on SQLite and, in a second run, on PostgreSQL; a module opts in with
    ``from tests.databases import on_each_database as cloud``."""
    built = open_cloud(make_settings(tmp_path, database_url), clock=clock)
    bootstrap(built)
    yield built
    built.close()


@pytest.fixture
def cloud(tmp_path: Path, clock: ManualClock) -> Iterator[Cloud]:
    """A bootstrapped cloud on SQLite with a hand-driven clock."""
    built = open_cloud(make_settings(tmp_path), clock=clock)
    bootstrap(built)
    yield built
    built.close()


class Api:
    """A thin JSON client over the ASGI app, logged in as admin unless told otherwise."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        from fastapi.testclient import TestClient

        self.http = TestClient(create_app(cloud), base_url="http://127.0.0.1:8000")
        self.admin_token = self.login("admin", ADMIN_PASSWORD, project="admin")

    def login(self, user: str, password: str, project: str | None = None, domain: str = "Default",
              **scope: Any) -> str:
        auth: dict[str, Any] = {
            "identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"name": domain},
                                                                        "password": password}}}
        }
        if project:
            auth["scope"] = {"project": {"name": project, "domain": {"name": domain}}}
        elif scope:
            auth["scope"] = scope
        response = self.http.post("/identity/v3/auth/tokens", json={"auth": auth})
        assert response.status_code == 201, response.text
        return response.headers["X-Subject-Token"]

    def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        headers.setdefault("X-Auth-Token", token or self.admin_token)
        return self.http.request(method, f"/identity/v3{path}", headers=headers, **kwargs)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    def head(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("HEAD", path, **kw)


@pytest.fixture
def api(cloud: Cloud) -> Api:
    return Api(cloud)


@dataclass
class Served:
    url: str
    data_dir: Path
    clouds_yaml: Path
    process: subprocess.Popen[bytes]
    log: Path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in list(env):
            if key.startswith("OS_"):
                del env[key]
        env["OS_CLIENT_CONFIG_FILE"] = str(self.clouds_yaml)
        env["OS_CLOUD"] = "twinstack"
        return env

    def admin_auth(self) -> dict[str, Any]:
        data = yaml.safe_load(self.clouds_yaml.read_text())
        auth: dict[str, Any] = data["clouds"]["twinstack"]["auth"]
        return auth


def serve(tmp_path: Path, *extra: str, env: dict[str, str] | None = None, log_name: str = "serve.log") -> Served:
    """Start ``twinstack serve`` on a port of its own choosing and wait until it answers (a restart names another
    log, and gets another port: clients re-read clouds.yaml, as the catalog follows)."""
    data_dir = tmp_path / "served"
    log = tmp_path / log_name
    full_env = dict(os.environ, TWINSTACK_IDENTITY__PASSWORD_KDF_N=str(FAST_KDF), **(env or {}))
    process, url = launch_serve(extra, data_dir, log, full_env)
    return Served(url, data_dir, data_dir / "clouds.yaml", process, log)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One real server per test module (the CLI tests share it; each makes its own names)."""
    running = serve(tmp_path_factory.mktemp("served"))
    yield running
    running.process.terminate()
    running.process.wait(10)


def serving_datacenter(tmp_path_factory: pytest.TempPathFactory, label: str, datacenter: dict[str, Any],
                       *extra: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """A module's own served cloud over the simulated ``datacenter`` (a datacenter file's content); for a
    module fixture to ``yield from``, so the server stops when the module is done."""
    tmp_path = tmp_path_factory.mktemp(label)
    path = tmp_path / "datacenter.yaml"
    path.write_text(yaml.safe_dump(datacenter))
    running = serve(tmp_path, "--datacenter", str(path), *extra, env=env)
    yield running
    running.process.terminate()
    running.process.wait(10)


class OpenStackCLI:
    """Runs the unmodified ``openstack`` command from PyPI against a served cloud (in this process: see
    tests/osc_runner.py)."""

    def __init__(self, served: Served) -> None:
        self.served = served

    def run(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        full_env = self.served.env()
        full_env.update(env or {})
        done = run_openstack(args, full_env)
        if check and done.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done

    def json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return json.loads(self.run(*args, "-f", "json", env=env).stdout)


@pytest.fixture(scope="module")
def openstack(served: Served) -> OpenStackCLI:
    return OpenStackCLI(served)
