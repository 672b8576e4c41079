"""Rebuild on a real host (``openstack server rebuild --image X``): the same server, booted afresh from an image.

What changes: the root disk (a new qcow2 overlay on the new image's cached base; the old disk and whatever the
guest wrote on it go), the config drive (written again: the server's current name, metadata, user data and
key) and, for a kernel + ramdisk image, what the domain boots. What stays: the domain itself with its NICs (the
ports are untouched: the same MACs on the same bridges) and the volumes attached to it, as in Nova, whose
rebuild keeps the instance's network and block device mappings. The guest is powered off first (cleanly if it
lets itself be), then started again unless it was stopped (``power_on``); its console log starts afresh with the
new boot.

A volume-backed server (its root disk is a volume) is refused: rebuilding it would mean reimaging the volume,
which Nova only does from microversion 2.93 through Cinder; nothing is touched then. On a failure after the
guest was powered off, the instance is left off with whatever disk it has (the conductor puts it in ERROR, as
Nova does): a delete then removes everything as usual.

Evacuation (a RebuildInstance with ``evacuate``, on a new host after the server's own host died): nothing of the
server is here and its disk died with its host, so it is built here as a spawn is, from its image, with the ports
the conductor plugged here (the same MACs), powered off at once if it was stopped. As Nova on non-shared storage
does, the root disk is a new one; what the dead host still holds is destroyed by the conductor when that host's
agent comes back (its report names an instance recorded elsewhere). Volumes attached to the server are not
connected here again (the conductor's evacuation does not reconnect them yet).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from twinstack.real import config_drive, disks
from twinstack.real.domain_edits import with_boot
from twinstack.real.domain_xml import Nic
from twinstack.real.libvirt_host import LibvirtHost, NotOnHost, SpawnTimings, hostname_for
from twinstack.rpc.compute import RebuildInstance, SpawnInstance

LOG = logging.getLogger(__name__)


def rebuild(host: LibvirtHost, command: RebuildInstance, plug: Callable[[], None] | None = None) -> int:
    """Rebuild the instance in place from ``command.image``; returns the power state it is left in. ``plug`` (the
    host network's plumbing for its ports) runs before the guest starts again."""
    uuid = command.instance_uuid
    if command.image is None:
        raise ValueError(f"a rebuild of {uuid} names no image")
    definition = host.definition(uuid)
    directory = host.directory(uuid)
    disk = directory / "disk"
    if not disk.is_file() or str(disk) not in definition:
        raise NotOnHost(f"Instance {uuid} boots from a volume: rebuilding it (reimaging its root volume) is not "
                        "supported on real hosts")
    timings = SpawnTimings()
    image = command.image
    base = timings.measure("image_cache", lambda: host.images.path(image.id))
    host.shut_down(uuid)
    fresh = directory / "disk.rebuild"
    fresh.unlink(missing_ok=True)
    timings.measure("disk", lambda: disks.create_overlay(base, fresh, command.flavor.disk_gb))
    fresh.chmod(0o644)
    fresh.replace(disk)
    hostname = hostname_for(command.instance_name, f"server-{uuid[:8]}")
    timings.measure("config_drive", lambda: config_drive.write(config_drive.InstanceMetadata(
        uuid, command.instance_name, hostname, dict(command.metadata), command.user_data, command.key_data),
        directory / "disk.config"))
    host.redefine(with_boot(definition, host.direct_boot(image, hostname, timings)))
    if plug is not None:
        timings.measure("network_plug", plug)
    power = host.power(uuid, "start") if command.power_on else host.power_state(uuid)
    LOG.info("rebuilt %s from image %s: %s", uuid, image.id,
             " ".join(f"{k}={v:.3f}s" for k, v in timings.phases.items()))
    return power


def evacuate(host: LibvirtHost, command: RebuildInstance, nics: tuple[Nic, ...],
             plug: Callable[[], None] | None = None) -> int:
    """Build the evacuated server here from its image (a spawn: on failure nothing is left); returns the power state,
    off if it was stopped. A repeat for a server already here only makes sure of its power."""
    spawn = SpawnInstance(command_id=command.command_id, host=command.host, instance_uuid=command.instance_uuid,
                          instance_name=command.instance_name, flavor=command.flavor, image=command.image,
                          user_data=command.user_data, metadata=command.metadata, key_data=command.key_data)
    power = host.spawn(spawn, SpawnTimings(), nics, plug)
    return power if command.power_on else host.power(command.instance_uuid, "stop")
