"""A back end's NBD exports: a volume file served to a guest of another host, one qemu-nbd per attachment.

Why one server per attachment rather than one per back end: each export then starts and stops on its own (a
detach stops exactly its attachment's export, Cinder's terminate_connection), with no control socket to keep in
step, and a server that died is restarted alone. Each qemu-nbd serves the qcow2 file as a raw disk under the
export name ``volume-<id>``, on ``address`` and a port of ``ports`` it was free on, persistent (a guest that
stops and starts connects again) and forked off: it outlives the agent, so a guest keeps its disk while the
agent restarts. What each export is (volume, file, port) is written in ``<directory>/<attachment>.json`` before
it is answered; :meth:`NbdExports.reconcile` at start-up restarts, on the same port, any whose server is gone
(the host rebooted, the process was killed), so the address the attachment recorded stays right.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from twinstack.real import privileged

LOG = logging.getLogger(__name__)
PROGRAM = "qemu-nbd"


@dataclass(frozen=True)
class Export:
    """One attachment's export: the volume, its file, and where guests reach it."""

    attachment_id: str
    volume_id: str
    path: str
    address: str
    port: int
    read_only: bool = False
    """an 'ro' attachment: the server refuses writes"""

    @property
    def name(self) -> str:
        return f"volume-{self.volume_id}"

    def connection_info(self) -> dict[str, object]:
        """Cinder's connection_info for it (what the connecting host's libvirt needs)."""
        return {"driver_volume_type": "nbd", "data": {
            "volume_id": self.volume_id, "name": self.name, "host": self.address, "port": self.port,
            "format": "raw", "access_mode": "ro" if self.read_only else "rw", "encrypted": False}}


class NbdExports:
    def __init__(self, directory: Path, address: str, ports: range) -> None:
        self.directory = directory
        self.address = address
        self.ports = ports
        self._lock = threading.Lock()

    def _record(self, attachment_id: str) -> Path:
        return self.directory / f"{attachment_id}.json"

    def _pidfile(self, attachment_id: str) -> Path:
        return self.directory / f"{attachment_id}.pid"

    def exports(self) -> list[Export]:
        """The exports recorded here (whether their servers run or not)."""
        found = []
        for record in sorted(self.directory.glob("*.json")):
            try:
                found.append(Export(**json.loads(record.read_text())))
            except (OSError, ValueError, TypeError):
                LOG.warning("unreadable export record %s: ignored", record)
        return found

    def running(self, attachment_id: str) -> bool:
        return privileged.running(self._pidfile(attachment_id), PROGRAM) is not None

    def export(self, attachment_id: str, volume_id: str, path: Path, read_only: bool = False) -> Export:
        """Serve the volume file for the attachment; idempotent: an export already running for it is answered
        (started again on its port if its server is gone). Raises if the file is missing, no port is free, or
        another export holds the file (QEMU's image lock keeps a second writer out: one export of a volume at a
        time)."""
        if not path.is_file():
            raise FileNotFoundError(f"volume {volume_id} has no file {path}")
        with self._lock:
            current = next((e for e in self.exports() if e.attachment_id == attachment_id), None)
            if current is not None and current.volume_id == volume_id and current.read_only == read_only:
                if not self.running(attachment_id):
                    self._serve(current)
                return current
            taken = {e.port for e in self.exports()}
            self.directory.mkdir(parents=True, exist_ok=True)
            for port in self.ports:
                if port in taken or not self._free(port):
                    continue
                export = Export(attachment_id, volume_id, str(path), self.address, port, read_only)
                try:
                    self._serve(export)
                except privileged.CommandFailed as exc:
                    if "in use" not in str(exc):
                        raise  # not the port: the file (held by another writer, say)
                    LOG.info("port %d of %s taken meanwhile: trying the next", port, self.address)
                    continue
                temporary = self._record(attachment_id).with_suffix(".tmp")
                temporary.write_text(json.dumps(asdict(export)))
                temporary.replace(self._record(attachment_id))
                LOG.info("exported volume %s for %s at %s:%d", volume_id, attachment_id, self.address, port)
                return export
        raise RuntimeError(f"no free NBD port on {self.address} in {self.ports.start}-{self.ports.stop - 1}")

    def unexport(self, attachment_id: str, timeout: float = 10.0) -> bool:
        """Stop the attachment's export (its server flushes the file as it ends) and forget it; whether one ran.
        Idempotent: an export gone is stopped."""
        with self._lock:
            pidfile = self._pidfile(attachment_id)
            stopped = privileged.signal_pidfile(pidfile, signal.SIGTERM, PROGRAM)
            deadline = time.monotonic() + timeout
            while self.running(attachment_id) and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.running(attachment_id):
                privileged.signal_pidfile(pidfile, signal.SIGKILL, PROGRAM)
            self._record(attachment_id).unlink(missing_ok=True)
            pidfile.unlink(missing_ok=True)
        if stopped:
            LOG.info("stopped the export of %s", attachment_id)
        return stopped

    def reconcile(self) -> list[str]:
        """At start-up: each recorded export whose server is gone is served again on its port (its attachment
        recorded that address); one whose file is gone is forgotten. Returns the attachments served again."""
        restarted = []
        for export in self.exports():
            if self.running(export.attachment_id):
                continue
            if not Path(export.path).is_file():
                LOG.warning("export of %s: volume file %s is gone; forgotten", export.attachment_id, export.path)
                self.unexport(export.attachment_id)
                continue
            try:
                self._serve(export)
            except privileged.CommandFailed:
                LOG.exception("export of %s could not be served again at port %d", export.attachment_id,
                              export.port)
                continue
            restarted.append(export.attachment_id)
        return restarted

    def _serve(self, export: Export) -> None:
        """Start the export's server; qemu-nbd forks once it listens, so the export is reachable on return."""
        self._pidfile(export.attachment_id).unlink(missing_ok=True)
        privileged.run([PROGRAM, "--fork", "--persistent", f"--pid-file={self._pidfile(export.attachment_id)}",
                        f"--bind={export.address}", f"--port={export.port}", f"--export-name={export.name}",
                        "--format=qcow2", "--cache=none", "--shared=2", *(["--read-only"] if export.read_only else []),
                        export.path], timeout=30)

    def _free(self, port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.address, port))
            except OSError:
                return False
        return True
