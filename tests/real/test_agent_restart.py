"""The agent killed mid-build and restarted: nothing is left building, nothing leaks, drift is reconciled.

In an all-in-one cloud the agent shares the ``twinstack serve`` process with the control plane, so
killing the agent (SIGKILL, no clean-up) kills both; the guests live on under libvirtd. On restart the
agent reports what it holds (HostInstances) and the conductor settles every record: the interrupted build
ends ACTIVE or ERROR, a guest that vanished while the agent was down is ERROR, and a domain nobody owns
is destroyed.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import libvirt
import pytest

from tests.conftest import OpenStackCLI
from tests.real.conftest import (
    IMAGE,
    build_test_image,
    create_server_now,
    domain_state,
    remove_domains_of,
    serve_real,
    state_dir,
    wait_for,
    wait_for_hypervisor,
)
from twinstack.real import disks
from twinstack.real.domain_xml import DomainSpec, domain_xml

pytestmark = pytest.mark.slow


def _stray_domain(virt: Any, state: Path) -> str:
    """A domain with a disk in the agent's state directory that no instance record knows."""
    stray = str(uuid.uuid4())
    directory = state / "instances" / stray
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    disks.create_blank(directory / "disk", 16)
    virt.defineXML(domain_xml(DomainSpec(stray, "qemu", 1, 64, directory / "disk", directory / "console.log")))
    return stray


def test_killed_mid_build_then_restarted_ends_settled_and_leaks_nothing(tmp_path: Path, virt: Any) -> None:
    state = state_dir()
    running = serve_real(tmp_path, state)
    try:
        build_test_image(running)
        wait_for_hypervisor(running)
        cli = OpenStackCLI(running)
        vanished = cli.json("server", "create", "--image", IMAGE, "--flavor", "m1.tiny", "--nic", "none", "--wait",
                            "vanishes")["id"]
        image_id = cli.json("image", "show", IMAGE)["id"]
        flavor_id = cli.json("flavor", "show", "m1.tiny")["id"]
        building = create_server_now(running, "interrupted", image_id, flavor_id)
        deadline = time.monotonic() + 30
        while not (state / "instances" / building).exists() and time.monotonic() < deadline:
            time.sleep(0.002)
        running.process.kill()  # mid-build: its disk is being made or its domain started, no answer sent yet
        running.process.wait(10)
        assert cli.served.url  # (the old server is gone; what the conductor recorded is read after restart)
        # while the agent is down: one guest disappears, and a domain nobody asked for appears
        virt.lookupByName(f"twinstack-{vanished}").destroy()
        virt.lookupByName(f"twinstack-{vanished}").undefine()
        shutil.rmtree(state / "instances" / vanished)
        stray = _stray_domain(virt, state)

        running = serve_real(tmp_path, state)
        cli = OpenStackCLI(running)
        settled = wait_for(lambda: (s := cli.json("server", "show", building))["status"] in ("ACTIVE", "ERROR") and s,
                           60, "the interrupted build to settle", every=1)
        if settled["status"] == "ACTIVE":
            assert domain_state(virt, building) == libvirt.VIR_DOMAIN_RUNNING
        else:
            assert "restarted" in settled["fault"]["message"]
        gone = wait_for(lambda: (s := cli.json("server", "show", vanished))["status"] == "ERROR" and s, 30,
                        "the vanished guest to be reported")
        assert "missing from host" in gone["fault"]["message"]
        wait_for(lambda: domain_state(virt, stray) is None, 30, "the stray domain to be destroyed")
        assert not (state / "instances" / stray).exists()

        cli.run("server", "delete", "--wait", building, vanished)
        assert domain_state(virt, building) is None
        assert list((state / "instances").iterdir()) == []
        assert [d.name() for d in virt.listAllDomains(0) if str(state) in d.XMLDesc(0)] == []
    finally:
        running.process.terminate()
        running.process.wait(20)
        remove_domains_of(state)
        shutil.rmtree(state, ignore_errors=True)
