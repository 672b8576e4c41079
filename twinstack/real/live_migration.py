"""Live migration between two real agents that share this machine's libvirtd: the running state travels as a file.

Why not libvirt's migration: between two machines, the source's agent would call ``virDomainMigrateToURI3`` with
``VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE`` (plus
``VIR_MIGRATE_NON_SHARED_DISK`` for a block migration) towards ``qemu+tcp://<destination>/system``, as Nova's
libvirt driver does: the source's libvirtd talks to the destination's, which starts QEMU waiting for the
incoming state, and the guest's memory is copied while it runs, with a pause of milliseconds at the end. Here
both agents drive one libvirtd, which refuses a migration to itself (the migration cookie names the same host),
and the domain must in any case change its name and UUID on arrival (one libvirtd holds each once).

What is done instead keeps the guest's running state, the point of a live migration: the guest is not rebooted,
but it is stopped from the moment its memory is written out until the destination restores it (the save, the copy
of its disk, the restore: seconds for the small test image, longer for a large disk), not for milliseconds as in a
live migration by libvirt. Through the directory both agents reach
(``real.migration_dir``, ``<dir>/<uuid>/``, as cold migration uses it):

1. PreLiveMigration (destination): fetch the image's kernel and ramdisk into this host's cache, and leave a
   marker, ``incoming``, naming this host: it waits for the guest (the agent polls for ``state``).
2. LiveMigrateInstance (source): check the destination is waiting, ``virDomainSave`` the guest's memory and
   device state to ``state.part`` (the domain stops, still defined here), copy its disk (flattened, as cold
   migration sends it), config drive and console log next to it, then rename ``state.part`` to ``state``:
   the signal. Then wait for the verdict.
3. Destination: claim the state (rename ``state`` to ``state.taken``: atomic, so either it or a source giving
   up wins, never both), move the files into its instance directory, give the save image its own definition
   (its domain name and UUID, its paths, its cached kernel; twinstack.real.save_image says why this is an edit
   of the image), plug the ports, ``virDomainRestore`` it and define it persistent, and write ``arrived``. On a
   failure it removes what it made, puts the image's definition back and writes ``refused`` with the reason.
4. Source: on ``arrived`` it destroys its copy (domain and instance directory) and clears the parcel; on
   ``refused``, or when nothing claimed the state in time, it restores the guest from the image here: it runs
   on, where it was, and the move fails.

The console log travels with the guest and continues (its whole history, one boot). Volumes attached to the guest
stay attached to it (the same files, which the destination reaches on this machine), but they stay in the
source's back ends, which the destination's agent does not hold: a later detach there is not carried out, and
between machines they would have to be exported (NBD) first. Moving servers with volumes between real hosts is not
finished. Ports: the conductor plugs them on the destination before PreLiveMigration and unplugs them on the
source after the move, so the guest's NICs come back on the same bridges.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import libvirt

from twinstack.real import save_image
from twinstack.real.domain_edits import console_log, files, files_under, moved
from twinstack.real.domain_xml import domain_name, domain_uuid
from twinstack.real.libvirt_host import RUNNING, LibvirtHost, NotOnHost, SpawnTimings
from twinstack.rpc.compute import LiveMigrateInstance, PreLiveMigration

LOG = logging.getLogger(__name__)

ARRIVAL_SECONDS = 120.0
"""How long the source waits for the destination to claim the state before it restores the guest itself."""
RESTORE_SECONDS = 300.0
"""How long the source waits for a verdict once the destination claimed the state (a restore takes seconds)."""
WAIT_SECONDS = 600.0
"""How long a prepared destination waits for the state before it forgets the migration."""


class LiveMover:
    def __init__(self, host: LibvirtHost, host_name: str, exchange: Path,
                 arrival_seconds: float = ARRIVAL_SECONDS) -> None:
        self.host = host
        self.host_name = host_name
        self.exchange = exchange
        self.arrival_seconds = arrival_seconds

    def parcel(self, instance_uuid: str) -> Path:
        return self.exchange / instance_uuid

    # destination

    def prepare(self, command: PreLiveMigration) -> None:
        """Make ready to receive the running guest: its images cached here, the marker naming this host."""
        uuid = command.instance_uuid
        if self.host.has_domain(uuid):
            raise ValueError(f"instance {uuid} already has a domain on {self.host_name}")
        if command.image is not None:
            self.host.direct_boot(command.image, "-", SpawnTimings())  # kernel and ramdisk into the cache
        parcel = self.parcel(uuid)
        shutil.rmtree(parcel, ignore_errors=True)
        parcel.mkdir(parents=True)
        (parcel / "incoming").write_text(self.host_name)

    def waiting(self, instance_uuid: str) -> bool:
        """Whether this host still waits for the guest (a rollback or a failed source clears the parcel)."""
        marker = self.parcel(instance_uuid) / "incoming"
        return marker.is_file() and marker.read_text() == self.host_name

    def state_arrived(self, instance_uuid: str) -> bool:
        return (self.parcel(instance_uuid) / "state").is_file()

    def receive(self, instance_uuid: str, command: PreLiveMigration, plug: Callable[[], None] | None,
                bridges: Mapping[str, str] | None = None) -> int:
        """Take the guest's state and run it here as this host's domain; the verdict is left for the source.
        ``bridges``: this host's bridge for each NIC (by MAC), which the source's definition names its own.
        Returns the power state; raises (the guest is then the source's again) if it could not be done."""
        parcel = self.parcel(instance_uuid)
        state = parcel / "state.taken"
        try:
            (parcel / "state").rename(state)
        except FileNotFoundError:
            raise NotOnHost(f"the state of {instance_uuid} was taken back by its source") from None
        saved = save_image.header(state)
        directory = self.host.directory(instance_uuid)
        try:
            power = self._run_here(instance_uuid, command, parcel, state, directory, plug, bridges or {})
        except Exception as exc:
            LOG.exception("%s: the live migration of %s failed here; the source takes the guest back",
                          self.host_name, instance_uuid)
            self.host.destroy(instance_uuid)
            save_image.put_back(state, saved)
            _verdict(parcel, "refused", f"{self.host_name}: {exc}")
            raise
        _verdict(parcel, "arrived", self.host_name)
        LOG.info("%s: %s arrived running", self.host_name, instance_uuid)
        return power

    def _run_here(self, uuid: str, command: PreLiveMigration, parcel: Path, state: Path, directory: Path,
                  plug: Callable[[], None] | None, bridges: Mapping[str, str]) -> int:
        source_xml = save_image.domain_xml(state)
        source_dir = self._source_dir(source_xml, uuid)
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)
        for name in ("disk", "disk.config", "console.log"):
            if (parcel / name).is_file():
                shutil.move(parcel / name, directory / name)
                (directory / name).chmod(0o644)
        boot = self.host.direct_boot(command.image, "-", SpawnTimings()) if command.image is not None else None
        prefix = self.host.domain_prefix
        xml = moved(source_xml, domain_name(uuid, prefix), domain_uuid(uuid, prefix), source_dir, directory, boot,
                    bridges)
        missing = [str(p) for p in files_under(xml, directory) if not p.exists() and p.name != "console.log"]
        if missing or not (directory / "disk").is_file():
            raise NotOnHost(f"the files of {uuid} did not arrive: {missing or 'no disk'}")
        save_image.rewrite(state, xml)
        if plug is not None:
            plug()
        connection = self.host.connection
        connection.restoreFlags(str(state), None, libvirt.VIR_DOMAIN_SAVE_RUNNING)
        domain = connection.lookupByName(domain_name(uuid, prefix))
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
        connection.defineXML(console_log(domain.XMLDesc(flags), append=False))  # persistent from now on
        return self.host.power_state(uuid)

    @staticmethod
    def _source_dir(xml: str, uuid: str) -> Path:
        """The source's instance directory: where the saved definition's files named after the instance live."""
        for path in files(xml):
            if path.parent.name == uuid:
                return path.parent
        raise NotOnHost(f"the saved definition of {uuid} names no instance directory")

    # source

    def send(self, command: LiveMigrateInstance) -> int:
        """Move the running guest to ``command.destination``; returns the power state it runs with there. On
        failure the guest runs here again, as before, and this raises."""
        uuid = command.instance_uuid
        parcel = self.parcel(uuid)
        marker = parcel / "incoming"
        if not marker.is_file() or marker.read_text() != command.destination:
            raise NotOnHost(f"{command.destination} is not waiting for {uuid} (no PreLiveMigration there)")
        source = self.host.directory(uuid)
        if not (source / "disk").is_file():
            raise NotOnHost(f"Instance {uuid} has no local disk on this host (a volume-backed server cannot move "
                            "between real hosts yet)")
        domain = self.host.connection.lookupByName(domain_name(uuid, self.host.domain_prefix))
        partial = parcel / "state.part"
        started = time.monotonic()
        domain.save(str(partial))  # the guest stops here, its memory and devices in the file
        paused = time.monotonic() - started
        try:
            self.host.capture(uuid, parcel / "disk.part", "qcow2")
            (parcel / "disk.part").rename(parcel / "disk")
            for name in ("disk.config", "console.log"):
                if (source / name).is_file():
                    shutil.copyfile(source / name, parcel / name)
        except Exception:
            self._take_back(uuid, partial)
            raise
        partial.rename(parcel / "state")
        LOG.info("%s: %s saved in %.1fs (%d MiB of state), waiting for %s", self.host_name, uuid, paused,
                 (parcel / "state").stat().st_size // 2**20, command.destination)
        verdict, back = self._verdict(parcel)
        if verdict != "arrived":
            if back is not None:
                self._take_back(uuid, back)
            raise RuntimeError(f"the live migration of {uuid} to {command.destination} failed ({verdict})"
                               + (f"; it runs on {self.host_name} again" if back is not None else ""))
        self.host.destroy(uuid)
        shutil.rmtree(parcel, ignore_errors=True)
        LOG.info("%s: %s runs on %s now (%.1fs)", self.host_name, uuid, command.destination,
                 time.monotonic() - started)
        return RUNNING

    def _verdict(self, parcel: Path) -> tuple[str, Path | None]:
        """'arrived', or why not and the state to run the guest here again from: the destination refused (and
        put the state back as it was), or nothing claimed the state in time (this host claims it back). None
        when the destination claimed the state and gave no verdict: the guest may run there, so it must not
        run here too."""
        deadline = time.monotonic() + self.arrival_seconds
        while True:
            if (parcel / "arrived").is_file():
                return "arrived", None
            if (parcel / "refused").is_file():
                return (parcel / "refused").read_text(), parcel / "state.taken"
            if (parcel / "state.taken").exists():
                if time.monotonic() > deadline + RESTORE_SECONDS:
                    return "the destination took the guest but gave no verdict in time", None
            elif time.monotonic() > deadline:
                try:
                    os.rename(parcel / "state", parcel / "state.back")  # claimed by nobody: take it back
                    return "the destination did not take the guest in time", parcel / "state.back"
                except FileNotFoundError:
                    continue  # the destination claimed it just now
            time.sleep(0.2)

    def _take_back(self, uuid: str, state: Path) -> None:
        """Run the guest here again from its saved state (its domain here was never touched)."""
        marker = self.parcel(uuid) / "incoming"
        marker.unlink(missing_ok=True)  # the destination stops waiting
        if state.is_file():  # its console log goes on where it stopped (not begun afresh, as a start would)
            connection = self.host.connection
            xml = console_log(save_image.domain_xml(state), append=True)
            connection.restoreFlags(str(state), xml, libvirt.VIR_DOMAIN_SAVE_RUNNING)
            domain = connection.lookupByName(domain_name(uuid, self.host.domain_prefix))
            flags = libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
            connection.defineXML(console_log(domain.XMLDesc(flags), append=False))  # a later start begins afresh
        shutil.rmtree(self.parcel(uuid), ignore_errors=True)


def _verdict(parcel: Path, name: str, text: str) -> None:
    partial = parcel / f"{name}.part"
    partial.write_text(text)
    partial.rename(parcel / name)
