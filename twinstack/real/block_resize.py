"""Growing a volume file a running guest has open: through its QEMU (libvirt's block resize), not ``qemu-img``.

Why: a running QEMU holds its disks' write lock, so ``qemu-img resize`` on an attached volume fails ("Failed to
get "write" lock"); only the process that has the file open may change it, and QEMU's ``block_resize`` (what
``virDomainBlockResize`` asks for) grows the qcow2 and tells the guest its disk's new capacity at once. In
Nova the volume driver grows the device and Cinder's ``volume-extended`` event makes the compute host call
``virDomainBlockResize``; here the back end's files and the guests that attach them are on the same host and
the same libvirtd, so the back end asks libvirt itself. (A volume reached from another host, over NBD, would
need that event.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libvirt

from twinstack.real.volume_xml import disk_of

LOG = logging.getLogger(__name__)

Connect = Callable[[str], Any]


def grow_attached(uri: str, path: Path, size_bytes: int, connect: Connect = libvirt.open) -> bool:
    """Grow ``path`` to ``size_bytes`` through every running domain that has it attached; False when none has
    (the caller then resizes the file itself). Raises what libvirt raises when a guest's QEMU refuses."""
    connection = connect(uri)
    try:
        grown = False
        for domain in connection.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
            if disk_of(domain.XMLDesc(0), path) is None:
                continue
            domain.blockResize(str(path), size_bytes, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
            LOG.info("grew %s to %d bytes through %s's QEMU", path.name, size_bytes, domain.name())
            grown = True
        return grown
    finally:
        connection.close()
