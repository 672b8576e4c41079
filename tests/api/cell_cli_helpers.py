"""What the ``openstack`` CLI tests of cells with their own database share: the two-cell datacenter, the
``twinstack`` command beside the served cloud, server creation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import FAST_KDF, OpenStackCLI, Served

DATACENTER = {
    "cells": [
        {"name": "cell1", "zones": [{"name": "az1", "racks": [{"name": "c1r1", "hosts": {"profile": "small",
                                                                                          "count": 2}}]}]},
        {"name": "cell2", "zones": [{"name": "az2", "racks": [{"name": "c2r1", "hosts": {"profile": "big",
                                                                                          "count": 2}}]}]},
    ],
    "profiles": {"small": {"vcpus": 16, "ram_mb": 32768, "disk_gb": 500},
                 "big": {"vcpus": 16, "ram_mb": 131072, "disk_gb": 500}},
    "behaviour": {"boot_seconds": {"kind": "fixed", "value": 0.3}, "delete_seconds": {"kind": "fixed", "value": 0.1}},
}


def twinstack(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TWINSTACK_IDENTITY__PASSWORD_KDF_N=str(FAST_KDF))
    return subprocess.run([sys.executable, "-m", "twinstack.cli", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=60, env=env)


def cells_listed(served: Served) -> dict[str, list[str]]:
    listed = twinstack(served.data_dir, "cell", "list")
    assert listed.returncode == 0, listed.stderr
    return {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}


def create(openstack: OpenStackCLI, name: str, *extra: str) -> dict[str, str]:
    openstack.run("server", "create", "--image", "twinstack-test", "--flavor", "m1.small", *extra, "--wait", name)
    shown: dict[str, str] = openstack.json("server", "show", name)
    return shown
