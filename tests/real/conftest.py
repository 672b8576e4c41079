"""Fixtures for the real host agent's end-to-end tests: ``twinstack serve --backend real`` on this machine.

They run as root against the real libvirtd (scripts/install-system-deps.sh starts it). Nothing here
skips: a missing libvirt, kernel or busybox fails the run loudly, as CI must.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import libvirt
import pytest

from tests.conftest import OpenStackCLI, Served, serve
from twinstack.real.host_network import HostNetwork
from twinstack.real.net_plan import plan

STATE_ROOT = Path("/var/lib/twinstack-tests")
"""Instance disks live here, not under pytest's tmp (QEMU runs as libvirt-qemu and cannot enter /tmp/pytest-*)."""
IMAGE = "twinstack-busybox"


def state_dir() -> Path:
    path = STATE_ROOT / uuid.uuid4().hex[:12]
    path.mkdir(parents=True)
    for directory in (STATE_ROOT, path):
        directory.chmod(0o755)
    return path


def real_env(state: Path) -> dict[str, str]:
    return {"TWINSTACK_REAL__STATE_DIR": str(state), "TWINSTACK_REAL__CLEAN_SHUTDOWN_SECONDS": "5",
            "TWINSTACK_REAL__HEARTBEAT_SECONDS": "2"}


def serve_real(tmp_path: Path, state: Path, env: dict[str, str] | None = None) -> Served:
    return serve(tmp_path, "--backend", "real", env={**real_env(state), **(env or {})})


@contextmanager
def running_real_cloud(tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[tuple[Served, Path]]:
    """A real cloud with the test image uploaded and its agent registered; afterwards the server stopped, its
    domains removed and its state directory gone."""
    state = state_dir()
    running = serve_real(tmp_path, state, env)
    try:
        build_test_image(running)
        wait_for_hypervisor(running)
        yield running, state
    finally:
        running.process.terminate()
        running.process.wait(20)
        remove_domains_of(state)
        remove_network_of(state)
        shutil.rmtree(state, ignore_errors=True)


def remove_network_of(state: Path) -> None:
    """Remove what the agent keeping ``state`` made in the host's network (its ledger says what), as the agent
    itself would with nothing plugged: a test that failed half-way must not leave bridges, namespaces, dnsmasq
    or rules that a later run trips over (a second bridge with the same external address steals its route)."""
    if (state / "network").is_dir():
        HostNetwork(state).apply(plan({}))


def wait_for_hypervisor(served: Served, timeout: float = 60) -> None:
    """The agent registers once libvirt answered and the KVM probe decided (a few seconds)."""
    cli = OpenStackCLI(served)
    wait_for(lambda: cli.json("hypervisor", "list"), timeout, "the real agent to register", every=1)


def build_test_image(served: Served) -> None:
    done = subprocess.run([sys.executable, "-m", "twinstack.cli", "image", "build-test", "--data-dir",
                           str(served.data_dir)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def create_server_now(served: Served, name: str, image_id: str, flavor: str = "1") -> str:
    """``POST /servers`` straight from the test (no client start-up in between): its id, the build just begun."""
    auth = served.admin_auth()
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "password": auth["password"], "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}}
    token = httpx.post(f"{served.url}/identity/v3/auth/tokens", json=body).headers["x-subject-token"]
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.37"}  # networks "none" from 2.37
    answer = httpx.post(f"{served.url}/compute/v2.1/servers", headers=headers,
                        json={"server": {"name": name, "imageRef": image_id, "flavorRef": flavor,
                                         "networks": "none"}})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["server"]["id"])


def remove_domains_of(state: Path) -> list[str]:
    """Destroy every domain whose disks are under ``state`` (what a failed test left behind); their names."""
    connection = libvirt.open("qemu:///system")
    removed = []
    try:
        for domain in connection.listAllDomains(0):
            if f"{state}/" in domain.XMLDesc(0):
                if domain.isActive():
                    domain.destroy()
                domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
                removed.append(domain.name())
    finally:
        connection.close()
    return removed


@pytest.fixture(scope="module")
def virt() -> Iterator[Any]:
    """A connection to the same libvirt the agent drives, to check domains behind the API's back."""
    connection = libvirt.open("qemu:///system")
    yield connection
    connection.close()


def domain_state(connection: Any, server_id: str) -> int | None:
    """libvirt's state of the server's domain, None when there is no such domain."""
    try:
        return int(connection.lookupByName(f"twinstack-{server_id}").state()[0])
    except libvirt.libvirtError:
        return None


@pytest.fixture(scope="module")
def real_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    with running_real_cloud(tmp_path_factory.mktemp("real")) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def openstack(real_cloud: tuple[Served, Path]) -> OpenStackCLI:
    return OpenStackCLI(real_cloud[0])
