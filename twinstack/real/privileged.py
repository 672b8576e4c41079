"""The one door to root commands on a real host (DESIGN.md rule 12, the rootwrap idea).

Every external command the real agent runs goes through :func:`run`, which refuses anything outside
its allow-list (a program and the sub-commands it may be given) and logs each command with how it
ended. ``ip netns exec <namespace>`` is allowed only in front of a command the list allows by itself.
Netlink requests (links, bridges, veths, addresses, routes, namespaces) go through :func:`netlink` and
the namespace functions here, over pyroute2, with their own allow-list and the same log; signals to the
daemons the agent started (dnsmasq, qemu-nbd) through :func:`signal_pidfile`. Nothing else in ``twinstack.real``
calls ``subprocess``, pyroute2 or ``os.kill``; libvirt calls go through libvirt's own API, not a shell.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute, NetlinkError, NetNS, netns

LOG = logging.getLogger(__name__)

ALLOWED: dict[str, frozenset[str] | None] = {
    # program: sub-commands it may run (None: any arguments)
    "qemu-img": frozenset({"create", "info", "convert", "check", "resize"}),
    "qemu-nbd": frozenset({"--fork"}),  # serving an export (never -c: connecting a kernel /dev/nbd device)
    "nft": frozenset({"-f", "list"}),
    "dnsmasq": None,
    "sysctl": frozenset({"-w"}),
    "modprobe": frozenset({"br_netfilter"}),
    "ip": frozenset({"netns"}),
}
NETNS_EXEC = ("ip", "netns", "exec")
NETLINK_CALLS = frozenset({"link", "addr", "route", "fdb", "neigh", "link_lookup", "get_links", "get_addr",
                           "get_neighbours"})
"""pyroute2 IPRoute methods :func:`netlink` may call"""


class CommandRefused(Exception):
    """A command outside the allow-list was asked for."""


class CommandFailed(Exception):
    """An allowed command ended with a non-zero status."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(f"{' '.join(argv)} exited {returncode}: {stderr.strip()[-500:]}")
        self.returncode = returncode


def check_allowed(argv: Sequence[str]) -> None:
    if tuple(argv[:3]) == NETNS_EXEC:
        if len(argv) < 5:
            raise CommandRefused(f"ip netns exec needs a namespace and a command: {list(argv)}")
        check_allowed(argv[4:])
        return
    if argv[:1] == ["ip"] or argv[:1] == ("ip",):
        raise CommandRefused("ip may only run 'netns exec' (netlink requests go through pyroute2)")
    if not argv or argv[0] not in ALLOWED:
        raise CommandRefused(f"not an allowed command: {argv[:1]}")
    subcommands = ALLOWED[argv[0]]
    if subcommands is not None and (len(argv) < 2 or argv[1] not in subcommands):
        raise CommandRefused(f"{argv[0]} may only run {sorted(subcommands)}, not {argv[1:2]}")


def run(argv: Sequence[str], timeout: float = 300.0) -> str:
    """Run an allowed command and return its standard output; a failure raises :class:`CommandFailed`."""
    check_allowed(argv)
    program = shutil.which(argv[0])
    if program is None:
        raise CommandFailed(argv, 127, f"{argv[0]} is not installed")
    started = time.monotonic()
    done = subprocess.run([program, *argv[1:]], capture_output=True, text=True, timeout=timeout, check=False)
    LOG.info("privileged: %s -> %d in %.3fs", " ".join(argv), done.returncode, time.monotonic() - started)
    if done.returncode != 0:
        raise CommandFailed(argv, done.returncode, done.stderr)
    return done.stdout


def run_input(argv: Sequence[str], stdin: str, timeout: float = 60.0) -> str:
    """:func:`run` with ``stdin`` fed to the command (``nft -f -``: one ruleset, one transaction)."""
    check_allowed(argv)
    program = shutil.which(argv[0])
    if program is None:
        raise CommandFailed(argv, 127, f"{argv[0]} is not installed")
    started = time.monotonic()
    done = subprocess.run(
        [program, *argv[1:]], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    LOG.info(
        "privileged: %s (%d bytes in) -> %d in %.3fs",
        " ".join(argv),
        len(stdin),
        done.returncode,
        time.monotonic() - started,
    )
    if done.returncode != 0:
        raise CommandFailed(argv, done.returncode, done.stderr)
    return done.stdout


class NetlinkSession:
    """Netlink requests over connections kept open per namespace until :meth:`close` (opening one into a
    namespace costs ~10 ms, and one plan's changes make tens of requests)."""

    def __init__(self) -> None:
        self._connections: dict[str | None, Any] = {}

    def __enter__(self) -> NetlinkSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def forget(self, namespace: str) -> None:
        """Close the connection into a namespace about to be removed."""
        connection = self._connections.pop(namespace, None)
        if connection is not None:
            connection.close()

    def _connection(self, namespace: str | None) -> Any:
        if namespace not in self._connections:
            self._connections[namespace] = NetNS(namespace) if namespace else IPRoute()
        return self._connections[namespace]

    def netlink(self, namespace: str | None, call: str, *args: Any, **kwargs: Any) -> Any:
        """One pyroute2 request in the host's network namespace (``namespace`` None) or in a named one."""
        if call not in NETLINK_CALLS:
            raise CommandRefused(f"netlink call {call!r} is not allowed")
        if call not in ("link_lookup", "get_links", "get_addr") and args[:1] != ("dump",):
            LOG.info("privileged: netlink [%s] %s %s %s", namespace or "host", call, " ".join(map(str, args)), kwargs)
        return getattr(self._connection(namespace), call)(*args, **kwargs)

    def delete_link(self, namespace: str | None, name: str) -> bool:
        """Delete the interface if it is there; whether it was (gone meanwhile, as a veth whose peer's
        namespace was just removed, is fine)."""
        connection = self._connection(namespace)
        found = connection.link_lookup(ifname=name)
        if not found:
            return False
        LOG.info("privileged: netlink [%s] link del %s", namespace or "host", name)
        try:
            connection.link("del", index=found[0])
        except NetlinkError as exc:
            if exc.code != errno.ENODEV:
                raise
            return False
        return True


def netlink(namespace: str | None, call: str, *args: Any, **kwargs: Any) -> Any:
    """One request on a connection of its own (:class:`NetlinkSession` for many)."""
    with NetlinkSession() as session:
        return session.netlink(namespace, call, *args, **kwargs)


def delete_link(namespace: str | None, name: str) -> bool:
    with NetlinkSession() as session:
        return session.delete_link(namespace, name)


def namespaces() -> list[str]:
    return sorted(netns.listnetns())


def add_namespace(name: str) -> None:
    if name not in netns.listnetns():
        LOG.info("privileged: netns add %s", name)
        netns.create(name)


def remove_namespace(name: str) -> None:
    if name in netns.listnetns():
        LOG.info("privileged: netns remove %s", name)
        netns.remove(name)


def running(pidfile: Path, program: str) -> int | None:
    """The process id ``pidfile`` holds, if that process still runs ``program``."""
    try:
        pid = int(pidfile.read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    if Path(command.decode(errors="replace")).name != program or state == "Z":
        return None
    return pid


def signal_pidfile(pidfile: Path, which: signal.Signals, program: str) -> bool:
    """Send ``which`` to the process whose id ``pidfile`` holds, if it still runs ``program``; whether it did."""
    pid = running(pidfile, program)
    if pid is None:
        return False
    LOG.info("privileged: kill -%s %d (%s)", which.name, pid, program)
    try:
        os.kill(pid, which)
    except ProcessLookupError:
        return False
    return True
