"""The one door to root commands on a real host (DESIGN.md rule 12, the rootwrap idea).

Every external command the real agent runs goes through :func:`run`, which refuses anything outside
its allow-list (a program and the sub-commands it may be given) and logs each command with how it
ended. Nothing else in ``twinstack.real`` calls ``subprocess``; libvirt calls go through libvirt's own
API, not through a shell.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Sequence

LOG = logging.getLogger(__name__)

ALLOWED: dict[str, frozenset[str] | None] = {
    # program: sub-commands it may run (None: any arguments)
    "qemu-img": frozenset({"create", "info", "convert", "check"}),
}


class CommandRefused(Exception):
    """A command outside the allow-list was asked for."""


class CommandFailed(Exception):
    """An allowed command ended with a non-zero status."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(f"{' '.join(argv)} exited {returncode}: {stderr.strip()[-500:]}")
        self.returncode = returncode


def check_allowed(argv: Sequence[str]) -> None:
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
