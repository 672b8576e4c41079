"""Compute API (Nova v2.1): a server's volume attachments (``/servers/{id}/os-volume_attachments``).

``openstack server add volume`` / ``server remove volume`` land here. The compute side reads the server (through
the compute context) and hands a :class:`ServerRef` to the block storage service, which reserves the attachment
(see :mod:`twinstack.core.volume.server_volumes`); then, as Nova's API casts to its compute manager, it casts
AttachVolume (DetachVolume) to the conductor, which has the server's host connect (disconnect) it. Nova answers an
attach at once (200, with the device) and the volume turns 'in-use' when the host has connected it; a detach
answers 202 and the volume turns 'available' when the host has let it go.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from twinstack.api.compute.common import find_server, json_body, request_id
from twinstack.api.compute.deps import ComputeDep, MicroversionDep
from twinstack.api.compute.microversion import Version
from twinstack.api.deps import Caller, CallerDep
from twinstack.api.volume.common import service
from twinstack.core.compute.block_devices import mappings_of, root_volume_of
from twinstack.core.compute.model import Instance
from twinstack.core.errors import BadRequest, NotFound
from twinstack.core.policy import ADMIN, Rule, all_of, any_of, project_scoped_to, role
from twinstack.core.volume import server_volumes
from twinstack.db.models.volume import AttachmentRow

router = APIRouter(prefix="/v2.1")
JsonDep = Annotated[Any, Depends(json_body)]
POLICY = "os_compute_api:os-volumes-attachments:"
_member = any_of(ADMIN, all_of(role("member"), project_scoped_to("project_id")))
_reader = any_of(ADMIN, all_of(role("reader"), project_scoped_to("project_id")))
RULES: dict[str, Rule] = {POLICY + "index": _reader, POLICY + "show": _reader, POLICY + "create": _member,
                          POLICY + "update": ADMIN, POLICY + "delete": _member}


def server_ref(instance: Instance) -> server_volumes.ServerRef:
    """What block storage needs of a server: the seam between the two services."""
    return server_volumes.ServerRef(uuid=instance.uuid, project_id=instance.project_id, host=instance.host,
                                    vm_state=instance.vm_state, task_state=instance.task_state,
                                    root=root_volume_of(mappings_of(instance.attributes.block_device_mapping)))


def attachment_view(row: AttachmentRow, server_id: str, version: Version) -> dict[str, Any]:
    body: dict[str, Any] = {"id": row.volume_id, "serverId": server_id, "volumeId": row.volume_id,
                            "device": row.mountpoint}
    if version >= Version(2, 70):
        body["tag"] = row.tag
    if version >= Version(2, 79):
        body["delete_on_termination"] = row.delete_on_termination
    return body


def _find(compute: ComputeDep, caller: Caller, server_id: str, verb: str) -> Instance:
    return find_server(compute, caller, server_id, POLICY + verb)


@router.get("/servers/{server_id}/os-volume_attachments")
def index(server_id: str, caller: CallerDep, compute: ComputeDep, version: MicroversionDep) -> dict[str, Any]:
    _find(compute, caller, server_id, "index")
    rows = server_volumes.server_attachments(service(caller.cloud), server_id)
    return {"volumeAttachments": [attachment_view(r, server_id, version) for r in rows]}


@router.get("/servers/{server_id}/os-volume_attachments/{volume_id}")
def show(server_id: str, volume_id: str, caller: CallerDep, compute: ComputeDep,
         version: MicroversionDep) -> dict[str, Any]:
    _find(compute, caller, server_id, "show")
    for row in server_volumes.server_attachments(service(caller.cloud), server_id):
        if row.volume_id == volume_id:
            return {"volumeAttachment": attachment_view(row, server_id, version)}
    raise NotFound(f"Volume {volume_id} is not attached to server {server_id}")


@router.post("/servers/{server_id}/os-volume_attachments")
def create(request: Request, server_id: str, caller: CallerDep, compute: ComputeDep, version: MicroversionDep,
           data: JsonDep) -> dict[str, Any]:
    spec = data.get("volumeAttachment") if isinstance(data, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("volumeId"), str):
        raise BadRequest("Invalid input for field/attribute volumeAttachment. 'volumeId' is a required property")
    allowed = {"volumeId", "device"} | ({"tag"} if version >= Version(2, 49) else set()) | (
        {"delete_on_termination"} if version >= Version(2, 79) else set())
    extra = set(spec) - allowed
    if extra:
        raise BadRequest(f"Invalid input for field/attribute volumeAttachment. Additional properties are not "
                         f"allowed ({', '.join(sorted(extra))} were unexpected)")
    instance = _find(compute, caller, server_id, "create")
    scope = None if caller.creds.is_admin else caller.creds.project_id
    row = server_volumes.attach(service(caller.cloud), server_ref(instance), spec["volumeId"], scope,
                                device=spec.get("device") or None, tag=spec.get("tag"),
                                delete_on_termination=bool(spec.get("delete_on_termination", False)))
    if instance.host is not None:
        try:
            compute.service.attach_volume(instance.uuid, row.volume_id, row.id, caller.token.user_id,
                                          request_id(request))
        except Exception:
            # nothing will drive the reservation: undo it, as Nova's API unreserves when its cast fails
            server_volumes.HostAttachments(service(caller.cloud)).give_up_connect(row.id)
            raise
    return {"volumeAttachment": attachment_view(row, server_id, version)}


@router.put("/servers/{server_id}/os-volume_attachments/{volume_id}")
def swap(server_id: str, volume_id: str, caller: CallerDep, compute: ComputeDep) -> Response:
    _find(compute, caller, server_id, "update")
    raise BadRequest("Swapping a server's volume is not supported.")


@router.delete("/servers/{server_id}/os-volume_attachments/{volume_id}", status_code=202)
def delete(request: Request, server_id: str, volume_id: str, caller: CallerDep, compute: ComputeDep) -> Response:
    instance = _find(compute, caller, server_id, "delete")
    row = server_volumes.detach(service(caller.cloud), server_ref(instance), volume_id)
    if row is not None:
        try:
            compute.service.detach_volume(instance.uuid, volume_id, row.id, caller.token.user_id,
                                          request_id(request))
        except Exception:
            server_volumes.finish_disconnect(service(caller.cloud), row.id, False)  # back to 'in-use'
            raise
    return Response(status_code=202)
