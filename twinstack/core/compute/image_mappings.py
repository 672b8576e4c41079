"""Block device mappings an image carries (Nova's image-defined BDMs): how a volume-backed server's snapshot is
written into an image, and how booting from that image turns them back into the server's mappings.

A snapshot of a volume-backed server (Nova's ``snapshot_volume_backed``) is an image with no data (size 0) whose
properties say where the data is: ``block_device_mapping``, the JSON list of its mappings, each a volume snapshot
to make a volume from (``source_type`` snapshot, ``destination_type`` volume); ``bdm_v2`` "True"; and
``root_device_name``. Booting from such an image boots from a volume made from the root's snapshot, with the
request's own mappings beside (:func:`merged`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from twinstack.core.compute.block_devices import BlockDeviceMapping
from twinstack.core.errors import BadRequest

ROOT_DEVICE_NAME = "/dev/vda"
BOOT_SEQUENCE = ("Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping "
                 "combination is not valid.")


def snapshot_mapping(snapshot_id: str, volume_size: int, device_name: str | None, boot_index: int | None,
                     delete_on_termination: bool, tag: str | None = None) -> dict[str, Any]:
    """One image mapping as Nova writes it (``snapshot_from_bdm`` then ``get_image_mapping``): the fields of a
    BDM, the database-only ones dropped, those with no value kept as null."""
    return {"source_type": "snapshot", "destination_type": "volume", "snapshot_id": snapshot_id,
            "volume_id": None, "image_id": None, "volume_size": volume_size, "device_name": device_name,
            "boot_index": boot_index, "delete_on_termination": delete_on_termination, "disk_bus": None,
            "device_type": None, "guest_format": None, "no_device": None, "tag": tag, "volume_type": None}


def snapshot_properties(mappings: Sequence[Mapping[str, Any]], root_device_name: str = ROOT_DEVICE_NAME
                        ) -> dict[str, str]:
    """The image properties of a volume-backed server's snapshot (Glance v2 keeps strings: the list as JSON)."""
    properties = {"root_device_name": root_device_name}
    if mappings:
        properties |= {"block_device_mapping": json.dumps(list(mappings)), "bdm_v2": "True"}
    return properties


def image_defined(properties: Mapping[str, Any]) -> list[BlockDeviceMapping]:
    """The mappings an image's properties define (v2 ones only, as ``bdm_v2`` says; none for other images)."""
    if str(properties.get("bdm_v2", "")).lower() != "true" or not properties.get("block_device_mapping"):
        return []
    raw = properties["block_device_mapping"]
    try:
        items = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise BadRequest("Block Device Mapping is Invalid: the image's block_device_mapping is not JSON.") from None
    if not isinstance(items, list):
        raise BadRequest("Block Device Mapping is Invalid: the image's block_device_mapping is not a list.")
    found: list[BlockDeviceMapping] = []
    for item in items:
        if not isinstance(item, dict) or item.get("no_device"):
            continue
        source = item.get("source_type")
        uuid = {"snapshot": item.get("snapshot_id"), "volume": item.get("volume_id"),
                "image": item.get("image_id")}.get(str(source))
        if source not in ("snapshot", "volume", "image", "blank") or (source != "blank" and not uuid):
            raise BadRequest("Block Device Mapping is Invalid: the image defines a mapping without its source.")
        boot_index = item.get("boot_index")
        found.append(BlockDeviceMapping(
            source_type=source, destination_type=item.get("destination_type") or "volume", uuid=uuid,
            boot_index=int(boot_index) if boot_index is not None else None,
            volume_size=item.get("volume_size"), delete_on_termination=bool(item.get("delete_on_termination")),
            device_name=item.get("device_name"), volume_type=item.get("volume_type"), tag=item.get("tag"),
            guest_format=item.get("guest_format")))
    return found


def merged(image_mappings: Sequence[BlockDeviceMapping], requested: Sequence[BlockDeviceMapping]
           ) -> list[BlockDeviceMapping]:
    """The image's mappings, then the request's, as Nova's ``_check_and_transform_bdm`` joins them: when the image
    defines the root, a root the request maps from an image goes (clients insert one for ``--image``); any other
    second root breaks the boot sequence (400)."""
    if any(m.is_root for m in image_mappings):
        requested = [m for m in requested if not (m.is_root and m.source_type == "image")]
    joined = [*image_mappings, *requested]
    indexes = sorted(m.boot_index for m in joined if m.boot_index is not None and m.boot_index >= 0)
    if joined and indexes != list(range(len(indexes))):
        raise BadRequest(BOOT_SEQUENCE)
    return joined


