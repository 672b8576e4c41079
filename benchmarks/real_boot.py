"""Time from ``POST /servers`` to ACTIVE on a real host, per phase, against libvirt starting the same domain.

    python -m benchmarks.real_boot [--runs 5]

Starts ``twinstack serve --backend real`` (root, libvirtd running), uploads the test image, then for each
run: POST a server and poll it (every 20 ms) until ACTIVE, splitting the time into

* api: the POST's own latency (the API records the server and hands it to the conductor);
* schedule+dispatch: from the POST's answer to the agent starting the spawn (conductor: schedule, claim,
  SpawnInstance over the bus, a worker picking it up);
* the agent's phases, as it logs them: image cache, disk (qcow2 overlay), config drive (the ISO with the
  server's metadata and user data), network plug (the server boots
  on a tenant network; the PlugPorts ahead of the spawn builds the bridge, DHCP namespace and dnsmasq and
  firewall tables on another worker while the image and disk are prepared, so this is what is left of it when
  the domain is about to start), define, domain start;
* report: from the agent's answer to the API showing ACTIVE (bus, conductor, poll granularity);

and, for the same domain XML on a fresh overlay (its NIC on the same bridge, a tap of libvirt's naming), the
time libvirt alone takes (define + start). Also how long the guest takes from domain start to its "ready" line
on the console (TCG or KVM; the guest asks DHCP first, so that includes its lease). The control plane's own
overhead is total minus the agent's libvirt, qemu-img and network work.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import libvirt
import yaml

from benchmarks.serving import launch_serve
from twinstack.real import disks
from twinstack.real.host_network import HostNetwork
from twinstack.real.net_plan import plan

SPAWNED = re.compile(r"^(\S+ \S+) INFO twinstack\.real\.libvirt_host spawned (\S+) \((\w+)\): (.*)$", re.MULTILINE)
IMAGE = "twinstack-busybox"


def _log_time(stamp: str) -> float:
    return dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


class Cloud:
    def __init__(self, tmp: Path, state: Path) -> None:
        self.data_dir = tmp / "data"
        self.log = tmp / "serve.log"
        env = {**os.environ, "TWINSTACK_REAL__STATE_DIR": str(state), "TWINSTACK_LOGGING__LEVEL": "INFO"}
        self.process, self.url = launch_serve(["--backend", "real"], self.data_dir, self.log, env, timeout=90)
        auth = yaml.safe_load((self.data_dir / "clouds.yaml").read_text())["clouds"]["twinstack"]["auth"]
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "password": auth["password"], "domain": {"name": "Default"}}}},
            "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}}
        token = httpx.post(f"{self.url}/identity/v3/auth/tokens", json=body).headers["x-subject-token"]
        self.http = httpx.Client(base_url=self.url, headers={"X-Auth-Token": token,
                                                             "OpenStack-API-Version": "compute 2.37"})
        subprocess.run([sys.executable, "-m", "twinstack.cli", "image", "build-test", "--data-dir",
                        str(self.data_dir)], check=True, capture_output=True)
        self._wait(lambda: self.http.get("/compute/v2.1/os-hypervisors").json()["hypervisors"], "the real agent")
        images = self.http.get(f"/image/v2/images?name={IMAGE}").json()["images"]
        self.image_id = images[0]["id"]
        network = self.http.post("/network/v2.0/networks", json={"network": {"name": "bench-net"}})
        self.network_id = network.raise_for_status().json()["network"]["id"]
        self.http.post("/network/v2.0/subnets", json={"subnet": {
            "network_id": self.network_id, "ip_version": 4, "cidr": "10.250.0.0/24"}}).raise_for_status()

    def _wait(self, ready: Any, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(self.log.read_text())
            try:
                if ready():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}")

    def boot(self, name: str) -> dict[str, float | str]:
        started = time.time()
        answer = self.http.post("/compute/v2.1/servers", json={"server": {
            "name": name, "imageRef": self.image_id, "flavorRef": "1", "networks": [{"uuid": self.network_id}]}})
        answered = time.time()
        answer.raise_for_status()
        server_id = answer.json()["server"]["id"]
        while True:
            status = self.http.get(f"/compute/v2.1/servers/{server_id}").json()["server"]["status"]
            if status in ("ACTIVE", "ERROR"):
                break
            time.sleep(0.02)
        active = time.time()
        if status != "ACTIVE":
            raise RuntimeError(f"server {server_id} ended {status}")
        match = next(m for m in SPAWNED.finditer(self.log.read_text()) if m.group(2) == server_id)
        phases = {k: float(v.rstrip("s")) for k, v in (p.split("=") for p in match.group(4).split())}
        spawned_at = _log_time(match.group(1))
        agent = sum(phases.values())
        return {"id": server_id, "virt_type": match.group(3), "total": active - started, "api": answered - started,
                "schedule+dispatch": max(spawned_at - agent - answered, 0.0),
                "image_cache": sum(v for k, v in phases.items() if k.startswith("image_cache")),
                "disk": phases.get("disk", 0.0), "config_drive": phases.get("config_drive", 0.0),
                "network_plug": phases.get("network_plug", 0.0), "define": phases.get("define", 0.0),
                "domain_start": phases.get("start", 0.0), "report": max(active - spawned_at, 0.0)}

    def delete(self, server_id: str) -> None:
        self.http.delete(f"/compute/v2.1/servers/{server_id}")
        while self.http.get(f"/compute/v2.1/servers/{server_id}").status_code != 404:
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


def until_ready(log: Path, since: float, timeout: float = 120) -> float:
    """Seconds from ``since`` until the guest's console says it is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and b"twinstack-guest: ready" in log.read_bytes():
            return time.time() - since
        time.sleep(0.05)
    return float("nan")


def libvirt_alone(connection: Any, server_id: str, state: Path) -> dict[str, float]:
    """Define and start a copy of the server's domain (its XML, a fresh overlay on the same base) directly."""
    xml = connection.lookupByName(f"twinstack-{server_id}").XMLDesc(0)
    copy = str(uuid.uuid4())
    directory = state / "bench" / copy
    directory.mkdir(parents=True)
    for d in (directory.parent, directory):
        d.chmod(0o755)
    disk = directory / "disk"
    base = state / "_base" / re.search(r"<backingStore type='file'.*?<source file='([^']+)'", xml, re.S)[1]  # type: ignore[index]
    started = time.time()
    disks.create_overlay(base, disk, 1)
    overlay = time.time() - started
    own = state / "instances" / server_id
    if (own / "disk.config").is_file():  # the same config drive (its path is rewritten with the disk's below)
        shutil.copyfile(own / "disk.config", directory / "disk.config")
    xml = (xml.replace(str(own / "disk"), str(disk)).replace(str(own / "console.log"), str(directory / "console.log"))
           .replace(server_id, copy))
    xml = re.sub(r"<backingStore.*?</backingStore>", "", xml, flags=re.S)
    xml = re.sub(r"<target dev='tap[^']*'/>", "", xml)  # libvirt names the copy's tap (vnetN)
    started = time.time()
    domain = connection.defineXML(xml)
    defined = time.time()
    domain.create()
    running = time.time()
    ready = until_ready(directory / "console.log", running)
    domain.destroy()
    domain.undefine()
    shutil.rmtree(directory)
    return {"disk": overlay, "define": defined - started, "domain_start": running - defined, "guest_ready": ready}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    state = Path("/var/lib/twinstack-bench") / uuid.uuid4().hex[:8]
    state.mkdir(parents=True)
    for d in (state.parent, state):
        d.chmod(0o755)
    connection = libvirt.open("qemu:///system")
    with tempfile.TemporaryDirectory(prefix="twinstack-real-boot-") as tmp:
        cloud = Cloud(Path(tmp), state)
        rows, alone = [], []
        try:
            for n in range(runs):
                row = cloud.boot(f"bench-{n}")
                log = state / "instances" / str(row["id"]) / "console.log"
                row["guest_ready"] = until_ready(log, time.time())
                rows.append(row)
                alone.append(libvirt_alone(connection, str(row["id"]), state))
                cloud.delete(str(row["id"]))
                print(f"run {n + 1}/{runs}: ACTIVE after {row['total']:.3f}s", file=sys.stderr)
        finally:
            cloud.stop()
            for domain in connection.listAllDomains(0):  # whatever a failed run left behind
                if f"{state}/" in domain.XMLDesc(0):
                    if domain.isActive():
                        domain.destroy()
                    domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
            if (state / "network").is_dir():  # and its network: bridges, namespaces, dnsmasq, nftables tables
                HostNetwork(state).apply(plan({}))
            shutil.rmtree(state, ignore_errors=True)
    print(f"virt_type {rows[0]['virt_type']}, {runs} runs on a tenant network "
          "(median seconds; first run fills the image cache)")
    keys = ["api", "schedule+dispatch", "image_cache", "disk", "config_drive", "network_plug", "define", "domain_start",
            "report", "total"]
    print(f"{'phase':<20}{'twinstack':>12}{'libvirt alone':>16}")
    for key in keys:
        ours = statistics.median(float(r[key]) for r in rows)
        theirs = statistics.median(a[key] for a in alone) if key in alone[0] else None
        print(f"{key:<20}{ours:>12.3f}{'' if theirs is None else f'{theirs:>16.3f}'}")
    libvirt_total = statistics.median(a["disk"] + a["define"] + a["domain_start"] for a in alone)
    total = statistics.median(float(r["total"]) for r in rows)
    print(f"{'libvirt total':<20}{'':>12}{libvirt_total:>16.3f}")
    print(f"control plane overhead (total - libvirt/qemu-img work; the network plug counts as ours): "
          f"{total - libvirt_total:.3f}s (first run {float(rows[0]['total']):.3f}s)")
    print(f"guest ready on console after ACTIVE: {statistics.median(float(r['guest_ready']) for r in rows):.2f}s; "
          f"libvirt alone, domain start to ready: {statistics.median(a['guest_ready'] for a in alone):.2f}s")


if __name__ == "__main__":
    main()
