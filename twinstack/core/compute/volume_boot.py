"""The conductor's block device step of a build (Nova's ``_prep_block_device``): volumes first, then the spawn.

A server with volume mappings, once its host is claimed, waits in task_state ``block_device_mapping`` while block
storage makes its volumes (from an image, a snapshot or nothing), reserves them and has the host connect each.
The step polls block storage every ``block_device_poll_seconds`` (as Nova polls Cinder), and spawns the server
when every volume is attached. It gives up after ``build_timeout``, or at once when block storage refuses:
the build is aborted as Nova aborts it ("Failure prepping block device.", not rescheduled), its claim released
and its volumes released. A build that fails later, or a server deleted meanwhile, has its volumes released
too; the volumes a build made are deleted then (a failed build leaves none of its own behind).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from twinstack.core.compute import states
from twinstack.core.compute.block_devices import (
    BlockDeviceMapping,
    BootServer,
    BootVolumes,
    BuildVolumes,
    is_volume_backed,
    mappings_of,
    volume_mappings,
)
from twinstack.core.compute.model import Instance
from twinstack.rpc.compute import ImageSpec

if TYPE_CHECKING:
    from twinstack.core.compute.conductor import Conductor

LOG = logging.getLogger(__name__)
PREP_FAULT = "Failure prepping block device."
CLEANUP_RETRIES = 60
"""How often a made volume still being created is looked at again before it is deleted (then left alone)."""


def instance_mappings(instance: Instance) -> list[BlockDeviceMapping]:
    stored = instance.attributes.block_device_mapping
    return mappings_of(stored) if stored else []  # most servers boot from an image and map nothing


def volume_image(instance: Instance) -> ImageSpec | None:
    """What the host boots a volume-backed server's root volume with (None for an image-backed server)."""
    meta = instance.attributes.volume_image
    return ImageSpec.model_validate(meta) if meta and volume_backed(instance) else None


def volume_backed(instance: Instance) -> bool:
    """Nova's is_volume_backed_instance: the server's root disk is a volume (its host gives it no root disk)."""
    stored = instance.attributes.block_device_mapping
    return bool(stored) and is_volume_backed(mappings_of(stored))


@dataclass
class _Build:
    host: str
    request_id: str
    started: float
    generation: int
    volumes: BuildVolumes = field(default_factory=BuildVolumes)


class VolumeBootFlow:
    """The block device step of one conductor's builds."""

    def __init__(self, conductor: Conductor, poll_seconds: float) -> None:
        self.c = conductor
        self.poll_seconds = poll_seconds
        self.volumes: BootVolumes | None = None
        """Block storage; set by the volume plane when it runs beside compute (None: volume mappings fail)."""
        self._builds: dict[str, _Build] = {}

    def needed(self, instance: Instance) -> bool:
        stored = instance.attributes.block_device_mapping
        return bool(stored) and bool(volume_mappings(mappings_of(stored)))

    def building(self) -> set[str]:
        """Instances whose volumes are being prepared (a command of sorts is in flight for them)."""
        return set(self._builds)

    def start(self, instance: Instance, host: str, request_id: str) -> None:
        """Prepare the instance's volumes on ``host`` (placed there, task_state block_device_mapping), then
        spawn it. A rescheduled build starts again here with the volumes it already made."""
        build = self._builds.get(instance.uuid)
        if build is None:
            build = _Build(host, request_id, self.c.now(), 0)
            mappings = instance_mappings(instance)
            build.volumes.reserved = {i for i, m in volume_mappings(mappings) if m.source_type == "volume"}
            self._builds[instance.uuid] = build
        build.host, build.request_id, build.started = host, request_id, self.c.now()
        build.generation += 1
        self._step(instance.uuid, build.generation)

    def _step(self, uuid: str, generation: int) -> None:
        """One look at the build's volumes. A step that fails (the database gone for a moment) is taken again
        after ``poll_seconds``, so a build never waits in ``block_device_mapping`` with no step to come."""
        try:
            self._advance(uuid, generation)
        except Exception:
            LOG.exception("the block device step of %s failed: taken again", uuid)
            self.c.runtime.call_later(self.poll_seconds, lambda: self._step(uuid, generation))

    def _advance(self, uuid: str, generation: int) -> None:
        build = self._builds.get(uuid)
        if build is None or build.generation != generation:
            return  # finished, abandoned, or superseded by a later attempt
        instance = self.c.instances.get(uuid)
        if (
            instance is None
            or instance.vm_state != states.BUILDING
            or instance.host != build.host
            or instance.task_state != states.BLOCK_DEVICE_MAPPING
        ):
            if (
                instance is None
                or instance.vm_state in (states.DELETED, states.ERROR)
                or instance.task_state == states.DELETING
            ):
                self.abandon(uuid)  # deleted (or failed) while its volumes were being made
            return
        if self.volumes is None:
            self.c.abort_build(instance, build.request_id, PREP_FAULT, "No block storage service is running.")
            return
        server = BootServer(
            uuid=uuid,
            project_id=instance.project_id,
            user_id=instance.user_id,
            host=build.host,
            availability_zone=instance.availability_zone,
        )
        waited = self.c.now() - build.started
        if waited > self.c.settings.build_timeout:  # before preparing: a step failing every time still ends
            fault: str | None = (f"Volumes of instance {uuid} were not all attached even after we waited "
                                 f"{int(waited)} seconds.")
        else:
            progress = self.volumes.prepare(server, instance_mappings(instance), build.volumes)
            if progress.ready:
                self.c.spawn(instance, build.host, build.request_id)
                return
            fault = progress.fault
        if fault is not None:
            LOG.info("block device set-up of %s on %s failed: %s", uuid, build.host, fault)
            self.c.abort_build(instance, build.request_id, PREP_FAULT, fault)
            return
        self.c.runtime.call_later(self.poll_seconds, lambda: self._step(uuid, generation))

    def finished(self, uuid: str) -> None:
        """The server is ACTIVE: its volumes are its own now (released when it is deleted)."""
        self._builds.pop(uuid, None)

    def abandon(self, uuid: str) -> None:
        """The build failed or the server went: release its volumes and delete the ones it made (those still being
        made are deleted once made). Idempotent."""
        build = self._builds.pop(uuid, None)
        if self.volumes is None:
            return
        created = list(build.volumes.created.values()) if build is not None else []
        self._release(uuid, created, CLEANUP_RETRIES)

    def _release(self, uuid: str, created: list[str], retries: int) -> None:
        if self.volumes is None:
            return
        try:
            waiting = self.volumes.abandon(uuid, created)
        except Exception:  # the build is over whatever its volumes' fate; their records say what is left
            LOG.exception("releasing the volumes of build %s failed", uuid)
            return
        if waiting and retries > 0:
            self.c.runtime.call_later(self.poll_seconds, lambda: self._release(uuid, waiting, retries - 1))
        elif waiting:
            LOG.warning("volumes %s made for build %s were never made: left as they are", waiting, uuid)
