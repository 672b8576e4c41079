"""Keystone and Placement from the peers' venv, each set up on SQLite and served by uWSGI on a loopback port.

uWSGI because it is how OpenStack deploys both (devstack runs every API under uWSGI) and it installs from
PyPI; ``processes`` worker processes, one thread each. Keystone caches in each worker's memory
(``dogpile.cache.memory``): a deployment would use memcached, an external service, but without any cache
every validation re-reads the user, project and role assignments from SQL (about 0.7 s a validation here).

Each context manager sets its service up in a fresh temporary directory, starts it, waits until it answers,
and stops it (SIGINT to the uWSGI master, which ends its workers) on exit. uWSGI speaks HTTP itself
(``--http-socket``) and closes each connection after its answer: with keep-alive a synchronous worker
stays pinned to one client's connection while the others wait in the backlog until uWSGI times them out
(more clients than workers broke that way). Reconnecting costs a loopback TCP handshake per request.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.serving import free_port, process_status


@dataclass(frozen=True)
class Peer:
    """A peer service being served: its base URL, and how to tell whether its uWSGI still runs."""

    url: str
    status: Callable[[], str]


def _run(venv: Path, tool: str, *args: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run([str(venv / "bin" / tool), *args], capture_output=True, text=True,
                          env={**os.environ, **env} if env else None)
    if done.returncode != 0:
        raise RuntimeError(f"{tool} {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


class PortTaken(Exception):
    """The port probed free was bound by another process before uWSGI could bind it."""


@contextmanager
def _uwsgi(venv: Path, module: str, processes: int, env: dict[str, str], log: Path, ready: str,
           prepare: Callable[[int], None] = lambda port: None) -> Iterator[Peer]:
    """Serve the WSGI ``module`` (``pkg.mod:application``) on a free loopback port; yields it (a :class:`Peer`) once
    uWSGI says it bound that port and ``GET ready`` answers below 500. uWSGI takes its port by number, so a
    port probed free can be taken by a parallel test's server before uWSGI binds it: then another port is
    tried (without the bound-port check, the other server's answers would pass for this one's).
    ``prepare(port)`` runs before each try (Keystone's catalog names its own port)."""
    for attempt in range(5):
        port = free_port()
        prepare(port)
        try:
            with _uwsgi_on(venv, module, port, processes, env, log, ready) as peer:
                yield peer
                return
        except PortTaken:
            if attempt == 4:
                raise


@contextmanager
def _uwsgi_on(venv: Path, module: str, port: int, processes: int, env: dict[str, str], log: Path,
              ready: str) -> Iterator[Peer]:
    command = [str(venv / "bin" / "uwsgi"), "--http-socket", f"127.0.0.1:{port}", "--add-header", "Connection: close",
               "--module", module,
               "--master", "--processes", str(processes), "--threads", "1", "--lazy-apps", "--die-on-term",
               "--need-app", "--disable-logging", "--buffer-size", "65535", "--logto", str(log)]
    log.unlink(missing_ok=True)
    process = subprocess.Popen(command, env={**os.environ, **env, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    bound = f"bound to TCP address 127.0.0.1:{port} "
    try:
        deadline = time.monotonic() + 120
        while True:
            said = log.read_text(errors="replace") if log.exists() else ""
            if process.poll() is not None:
                if "Address already in use" in said:
                    raise PortTaken(port)
                raise RuntimeError(f"uwsgi for {module} exited:\n{said[-3000:]}")
            try:
                if bound in said and httpx.get(url + ready, timeout=5).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"uwsgi for {module} did not answer:\n{said[-3000:]}")
            time.sleep(0.3)
        yield Peer(url, lambda: process_status(process, log))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@contextmanager
def keystone(venv: Path, username: str, password: str, project: str, processes: int) -> Iterator[Peer]:
    """Keystone with fernet tokens on SQLite, bootstrapped with one admin (``keystone-manage bootstrap``: the
    user, the project, the admin role and its implied member and reader, in the Default domain). Its URL is
    the base (``.../v3`` is Identity v3)."""
    with tempfile.TemporaryDirectory(prefix="twinstack-peer-keystone-") as tmp:
        root = Path(tmp)
        conf = root / "keystone.conf"
        conf.write_text(
            "[DEFAULT]\nuse_stderr = false\n"
            f"[database]\nconnection = sqlite:///{root / 'keystone.db'}\n"
            "[token]\nprovider = fernet\n"
            f"[fernet_tokens]\nkey_repository = {root / 'fernet-keys'}\n"
            f"[fernet_receipts]\nkey_repository = {root / 'fernet-keys'}\n"
            f"[credential]\nkey_repository = {root / 'credential-keys'}\n"
            "[cache]\nenabled = true\nbackend = dogpile.cache.memory\n")
        manage = ("keystone-manage", "--config-file", str(conf))
        _run(venv, *manage, "db_sync")
        for keys in ("fernet_setup", "credential_setup"):
            _run(venv, *manage, keys, "--keystone-user", "root", "--keystone-group", "root")

        def bootstrap(port: int) -> None:
            url = f"http://127.0.0.1:{port}"
            _run(venv, *manage, "bootstrap", "--bootstrap-username", username, "--bootstrap-password", password,
                 "--bootstrap-project-name", project, "--bootstrap-role-name", "admin",
                 "--bootstrap-region-id", "RegionOne", "--bootstrap-public-url", f"{url}/v3",
                 "--bootstrap-admin-url", f"{url}/v3", "--bootstrap-internal-url", f"{url}/v3")

        with _uwsgi(venv, "keystone.wsgi.api:application", processes, {"OS_KEYSTONE_CONFIG_FILES": str(conf)},
                    root / "uwsgi.log", "/v3", prepare=bootstrap) as served:
            yield served


@contextmanager
def placement(venv: Path, processes: int) -> Iterator[Peer]:
    """Placement on SQLite with ``auth_strategy = noauth2`` (``X-Auth-Token: admin`` is an admin), schema by
    ``placement-manage db sync``. Placement answers at its URL's root."""
    with tempfile.TemporaryDirectory(prefix="twinstack-peer-placement-") as tmp:
        root = Path(tmp)
        conf = root / "placement.conf"
        conf.write_text(
            "[DEFAULT]\nuse_stderr = false\n"
            f"[placement_database]\nconnection = sqlite:///{root / 'placement.db'}\n"
            "[api]\nauth_strategy = noauth2\n")
        _run(venv, "placement-manage", "--config-file", str(conf), "db", "sync")
        # each worker writes the standard resource classes and traits as it loads the app; two doing it at once on
        # SQLite lock each other out, and uWSGI (--need-app) then stops altogether, after its other worker has
        # passed the ready check (seen in CI: the peer vanished mid-run). Loaded once here, they find nothing to write.
        _run(venv, "python", "-c", "import placement.wsgi.api", env={"OS_PLACEMENT_CONFIG_DIR": str(root)})
        with _uwsgi(venv, "placement.wsgi.api:application", processes,
                    {"OS_PLACEMENT_CONFIG_DIR": str(root)}, root / "uwsgi.log", "/") as served:
            yield served
