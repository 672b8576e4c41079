"""Compute API (Nova v2.1): the volumes of a server create (``block_device_mapping_v2``), checked and reserved.

The compute side hands the mappings to block storage (:mod:`twinstack.core.volume.boot_volumes`), as
``os-volume_attachments`` does for an attach: checked before anything is recorded (Nova's 400s, nothing
changed), then the existing volumes reserved for the recorded server so that none is taken while it builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from twinstack.api.deps import Caller
from twinstack.api.volume.common import service
from twinstack.core.compute.boot import ServerCreate
from twinstack.core.compute.image_mappings import image_defined, merged
from twinstack.core.compute.model import Instance
from twinstack.core.volume import boot_volumes


def with_image_mappings(create: ServerCreate, image_properties: Mapping[str, Any] | None) -> ServerCreate:
    """The create with the mappings its image defines (a volume-backed server's snapshot), under the request's own,
    as Nova merges image-defined BDMs: booting from such an image boots from volumes made from its snapshots.
    ``image_properties``: those of the image the create names, as the caller sees it (None: no image, or none found,
    which is refused with Nova's message when the image is checked)."""
    if create.image_ref is None or image_properties is None:
        return create
    defined = image_defined(image_properties)
    if not defined:
        return create
    mappings = merged(defined, create.mappings)
    return replace(create, mappings=tuple(mappings),
                   attributes=replace(create.attributes, block_device_mapping=[m.stored() for m in mappings]))


def check_volumes(caller: Caller, create: ServerCreate) -> ServerCreate:
    """The create, with what block storage found of a volume root; 400 for mappings Nova refuses."""
    if not any(m.is_volume for m in create.mappings):
        return create
    root = boot_volumes.check_mappings(service(caller.cloud), caller.creds, create.mappings, create.max_count)
    return replace(create, root_image=root)


def reserve_volumes(caller: Caller, create: ServerCreate, instances: list[Instance]) -> None:
    """Reserve the existing volumes of the mappings for the recorded server (one: a volume serves one server)."""
    if not any(m.source_type == "volume" and m.is_volume for m in create.mappings):
        return
    scope = None if caller.creds.is_admin else caller.creds.project_id
    for instance in instances:
        boot_volumes.reserve_mappings(service(caller.cloud), instance.uuid, create.mappings, scope)
