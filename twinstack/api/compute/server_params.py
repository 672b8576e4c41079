"""What a server request says, checked as Nova's schemas check it: the create and update bodies and the
list filters, turned into core's ServerCreate and InstanceQuery."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from twinstack.api.compute.common import Body, flag, limit_and_marker, parse, parse_time, refuse_before, v
from twinstack.api.compute.microversion import Version
from twinstack.api.deps import Caller
from twinstack.core.compute import states
from twinstack.core.compute.block_devices import BlockDeviceMapping
from twinstack.core.compute.boot import ServerCreate
from twinstack.core.compute.image_mappings import BOOT_SEQUENCE
from twinstack.core.compute.model import ServerAttributes
from twinstack.core.compute.stores import InstanceQuery
from twinstack.core.errors import BadRequest, Forbidden

NAME_PATTERN = r"^(?!\s)[^\x00-\x1f]*(?<!\s)$"
"""Printable, without leading or trailing whitespace (Nova's 'name' format)."""
TAG_PATTERN = r"^[^,/]*$"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


def _uuid_like(value: str) -> bool:
    return bool(UUID_RE.match(value))


class NetworkIn(Body):
    uuid: str | None = None
    port: str | None = None
    fixed_ip: str | None = None
    tag: str | None = Field(None, max_length=60, pattern=TAG_PATTERN)

    @field_validator("uuid", "port")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is not None and not _uuid_like(value):
            raise ValueError(f"'{value}' is not a 'uuid'")
        return value


class BlockDeviceIn(BaseModel):
    """One block_device_mapping_v2 entry as Nova's schema takes it; :func:`block_device_mappings` checks what the
    schema cannot and makes core's mapping of it."""

    model_config = ConfigDict(extra="forbid")
    uuid: str | None = Field(None, min_length=1, max_length=255, pattern=r"^[a-zA-Z0-9._-]*$")
    source_type: Literal["volume", "image", "snapshot", "blank"] | None = None
    destination_type: Literal["local", "volume"] | None = None
    boot_index: int | str | None = None
    volume_size: int | str | None = None
    delete_on_termination: bool | str | None = None
    guest_format: str | None = None
    device_name: str | None = None
    disk_bus: str | None = None
    device_type: str | None = None
    no_device: bool | None = None
    tag: str | None = Field(None, max_length=60, pattern=TAG_PATTERN)
    volume_type: str | None = Field(None, max_length=255)
    volume_id: str | None = None
    snapshot_id: str | None = None
    image_id: str | None = None


class LegacyBlockDeviceIn(BaseModel):
    """One entry of the legacy ``block_device_mapping`` (before v2), as Nova's schema takes it."""

    model_config = ConfigDict(extra="forbid")
    device_name: str | None = Field(None, max_length=255)
    volume_id: str | None = None
    snapshot_id: str | None = None
    volume_size: int | str | None = None
    delete_on_termination: bool | str | None = None
    no_device: bool | None = None
    virtual_name: str | None = Field(None, max_length=255)


LEGACY_ROOT_DEVICE = "vda"
"""The root device name Nova assumes when converting legacy mappings (none supplied)."""


def from_legacy(asked: list[dict[str, Any]], image_ref: str | None) -> list[BlockDeviceIn]:
    """Legacy mappings as v2 ones, as Nova converts them: a volume or snapshot named after the root device
    (``vda``) boots the server, every other one is attached beside it; with an image and no such volume the
    image boots (a root mapping of it is put first). Ephemeral and swap disks by ``virtual_name`` are refused:
    this cloud takes them only as v2 ``blank``/``local`` mappings."""
    converted: list[BlockDeviceIn] = []
    volume_backed = False
    for raw in asked:
        item = LegacyBlockDeviceIn.model_validate(raw)
        if item.no_device:
            continue
        if item.virtual_name is not None or (item.volume_id is None and item.snapshot_id is None):
            raise BadRequest("Block Device Mapping is Invalid: a legacy mapping needs a volume_id or a snapshot_id "
                             "(ephemeral and swap disks go in block_device_mapping_v2).")
        root = (item.device_name or "").removeprefix("/dev/") == LEGACY_ROOT_DEVICE
        volume_backed = volume_backed or root
        converted.append(BlockDeviceIn(
            source_type="volume" if item.volume_id is not None else "snapshot", destination_type="volume",
            uuid=item.volume_id or item.snapshot_id, boot_index=0 if root else -1, volume_size=item.volume_size,
            delete_on_termination=item.delete_on_termination, device_name=item.device_name))
    if volume_backed or image_ref is None:
        return converted
    image_root = BlockDeviceIn(source_type="image", destination_type="local", uuid=image_ref, boot_index=0,
                               delete_on_termination=True)
    return [image_root, *converted]


class SecurityGroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)


class ServerIn(Body):
    name: str = Field(min_length=1, max_length=255, pattern=NAME_PATTERN)
    imageRef: str | None = None  # noqa: N815 - Nova's names
    flavorRef: str | int  # noqa: N815
    availability_zone: str | None = Field(None, max_length=255)
    key_name: str | None = Field(None, min_length=1, max_length=255)
    metadata: dict[str, str | None] | None = None
    user_data: str | None = Field(None, max_length=65535)
    min_count: int = Field(1, ge=1)
    max_count: int = Field(1, ge=1)
    return_reservation_id: StrictBool | str = False
    networks: Literal["auto", "none"] | list[NetworkIn] | None = None
    block_device_mapping_v2: list[BlockDeviceIn] | None = None
    block_device_mapping: list[dict[str, Any]] | None = None
    security_groups: list[SecurityGroupIn] | None = None
    config_drive: bool | str | None = None
    accessIPv4: str | None = None  # noqa: N815
    accessIPv6: str | None = None  # noqa: N815
    disk_config: Literal["AUTO", "MANUAL"] | None = Field(None, alias="OS-DCF:diskConfig")
    adminPass: str | None = None  # noqa: N815
    personality: list[dict[str, Any]] | None = None
    description: str | None = Field(None, max_length=255)
    tags: list[str] | None = Field(None, max_length=50)
    trusted_image_certificates: list[str] | None = Field(None, min_length=1, max_length=50)
    host: str | None = Field(None, min_length=1, max_length=255)
    hypervisor_hostname: str | None = Field(None, min_length=1, max_length=255)


class CreateBody(Body):
    server: ServerIn
    scheduler_hints: dict[str, Any] | None = Field(None, alias="os:scheduler_hints")
    scheduler_hints_sdk: dict[str, Any] | None = Field(None, alias="OS-SCH-HNT:scheduler_hints")


class UpdateIn(Body):
    name: str | None = Field(None, min_length=1, max_length=255, pattern=NAME_PATTERN)
    description: str | None = Field(None, max_length=255)
    accessIPv4: str | None = None  # noqa: N815
    accessIPv6: str | None = None  # noqa: N815
    disk_config: Literal["AUTO", "MANUAL"] | None = Field(None, alias="OS-DCF:diskConfig")


class UpdateBody(Body):
    server: UpdateIn


def _truthy(value: bool | str | None) -> bool:
    if isinstance(value, bool) or value is None:
        return bool(value)
    return value.strip().lower() in ("1", "true", "t", "on", "y", "yes")


def _metadata(items: dict[str, str | None] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in (items or {}).items():
        if not 1 <= len(key) <= 255:
            raise BadRequest("Invalid input for field/attribute metadata. Metadata keys are 1 to 255 characters.")
        if value is None or len(value) > 255:
            raise BadRequest(f"Invalid input for field/attribute {key}. Metadata values are strings of at most "
                             "255 characters.")
        found[key] = value
    return found


def metadata_items(data: Any, key: str = "metadata") -> dict[str, str]:
    if not isinstance(data, dict) or key not in data or not isinstance(data[key], dict):
        raise BadRequest(f"Invalid input for field/attribute {key}. '{key}' is a required property")
    if set(data) != {key}:
        raise BadRequest("Invalid input for field/attribute. Additional properties are not allowed")
    if not all(isinstance(value, str) for value in data[key].values()):
        raise BadRequest(f"Invalid input for field/attribute {key}. Values must be strings.")
    return _metadata(data[key])


def _hints(asked: dict[str, Any]) -> dict[str, Any]:
    group = asked.get("group")
    if group is not None and (not isinstance(group, str) or not _uuid_like(group)):
        raise BadRequest(f"Invalid input for field/attribute group. Value: {group}. '{group}' is not a 'uuid'")
    for key in ("same_host", "different_host"):
        values = asked.get(key)
        if values is None:
            continue
        listed = [values] if isinstance(values, str) else values
        if not isinstance(listed, list) or not all(isinstance(x, str) and _uuid_like(x) for x in listed):
            raise BadRequest(f"Invalid input for field/attribute {key}. Value: {values}.")
    return dict(asked)


def _zone(asked: str | None) -> tuple[str | None, str | None]:
    """Nova's ``zone``, ``zone:host``, ``zone:host:node`` or ``zone::node``: (zone, forced host)."""
    if not asked or ":" not in asked:
        return asked or None, None
    parts = asked.split(":")
    if len(parts) > 3:
        raise BadRequest(f"Unable to parse availability_zone {asked}")
    zone, host = parts[0] or None, parts[1] or None
    if len(parts) == 3 and not host:
        host = parts[2] or None
    return zone, host


def server_create(request: Request, caller: Caller, version: Version, data: Any) -> tuple[ServerCreate, bool, str]:
    """The core request, whether a reservation id is all the client wants back, and the admin password."""
    body = parse(CreateBody, data)
    asked = body.server
    present = asked.model_fields_set
    refuse_before(request, v(19), "description" in present, "description")
    refuse_before(request, v(52), "tags" in present, "tags")
    refuse_before(request, v(63), "trusted_image_certificates" in present, "trusted_image_certificates")
    refuse_before(request, v(74), "host" in present, "host")
    refuse_before(request, v(74), "hypervisor_hostname" in present, "hypervisor_hostname")
    if version >= v(57) and "personality" in present:
        raise BadRequest("Invalid input for field/attribute server. Additional properties are not allowed "
                         "('personality' was unexpected)")
    if version >= v(37) and asked.networks is None:
        raise BadRequest("Invalid input for field/attribute networks. 'networks' is a required property")
    if version < v(37) and isinstance(asked.networks, str):
        raise BadRequest(f"Invalid input for field/attribute networks. Value: {asked.networks}.")
    for tag in asked.tags or []:
        if not 1 <= len(tag) <= 60 or "," in tag or "/" in tag:
            raise BadRequest(f"Invalid input for field/attribute tags. Value: {tag}.")
    if asked.user_data is not None:
        try:
            base64.b64decode(asked.user_data, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("User data needs to be valid base 64.") from None
    zone, forced_host = _zone(asked.availability_zone)
    if forced_host is not None:
        caller.enforce("os_compute_api:servers:create:forced_host", {"project_id": caller.creds.project_id})
    hints = _hints({**(body.scheduler_hints_sdk or {}), **(body.scheduler_hints or {})})
    if asked.host or asked.hypervisor_hostname:
        caller.enforce("os_compute_api:servers:create:requested_destination",
                       {"project_id": caller.creds.project_id})
        hints |= {k: val for k, val in (("requested_host", asked.host),
                                        ("requested_hypervisor_hostname", asked.hypervisor_hostname)) if val}
    image_ref = asked.imageRef or None
    if asked.block_device_mapping and asked.block_device_mapping_v2:
        raise BadRequest("Using different block_device_mapping syntaxes is not allowed in the same request.")
    requested = asked.block_device_mapping_v2 or []
    if asked.block_device_mapping:
        try:
            requested = from_legacy(asked.block_device_mapping, image_ref)
        except ValidationError as exc:
            raise BadRequest(f"Invalid input for field/attribute block_device_mapping: {exc.errors()[0]['msg']}") \
                from None
    mappings = block_device_mappings(request, requested, "imageRef" in present)
    if image_ref is None and not mappings:
        raise BadRequest("Missing imageRef attribute")
    networks: str | list[dict[str, Any]] | None
    networks = asked.networks if isinstance(asked.networks, str) or asked.networks is None else [
        n.model_dump(exclude_none=True) for n in asked.networks]
    attributes = ServerAttributes(
        description=asked.description, tags=list(dict.fromkeys(asked.tags or [])),
        access_ipv4=asked.accessIPv4 or "", access_ipv6=asked.accessIPv6 or "",
        config_drive=_truthy(asked.config_drive), disk_config=asked.disk_config or "MANUAL",
        security_groups=[g.name for g in asked.security_groups] if asked.security_groups else ["default"],
        trusted_image_certificates=asked.trusted_image_certificates, requested_networks=networks,
        block_device_mapping=[m.stored() for m in mappings],
    )
    create = ServerCreate(
        name=asked.name, flavor_ref=str(asked.flavorRef), image_ref=image_ref, availability_zone=zone,
        forced_host=forced_host, key_name=asked.key_name, metadata=_metadata(asked.metadata),
        user_data=asked.user_data, min_count=asked.min_count, max_count=asked.max_count,
        scheduler_hints=hints, attributes=attributes, mappings=tuple(mappings),
    )
    password = asked.adminPass or generate_password()
    return create, _truthy(asked.return_reservation_id), password




def _integer(value: int | str | None, field: str, minimum: int | None = None) -> int | None:
    if value is None or (field == "boot_index" and isinstance(value, str) and value.lower() == "none"):
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}.") from None
    if minimum is not None and number < minimum:
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. {value} is less than the "
                         f"minimum of {minimum}")
    return number


def _flag(value: bool | str | None, field: str) -> bool:
    if isinstance(value, bool) or value is None:
        return bool(value)
    lowered = value.strip().lower()
    if lowered in ("1", "true", "t", "on", "y", "yes"):
        return True
    if lowered in ("0", "false", "f", "off", "n", "no"):
        return False
    raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}.")


def _block_device(asked: BlockDeviceIn, image_given: bool) -> BlockDeviceMapping:
    """Nova's BlockDeviceDict.from_api: one entry checked and completed (destination from the source when absent)."""
    source = asked.source_type
    if source is None:
        raise BadRequest("Block Device Mapping is Invalid: Invalid source_type field.")
    if source == "blank" and asked.uuid:
        raise BadRequest("Block Device Mapping is Invalid: Invalid device UUID.")
    if source != "blank" and not asked.uuid:
        raise BadRequest("Block Device Mapping is Invalid: Missing device UUID.")
    destination = asked.destination_type or ("local" if source == "blank" else "volume")
    boot_index = _integer(asked.boot_index, "boot_index")
    if source == "image" and destination == "local" and not (image_given and boot_index == 0):
        raise BadRequest("Block Device Mapping is Invalid: Mapping image to local is not supported.")
    return BlockDeviceMapping(
        source_type=source, destination_type=destination, uuid=asked.uuid, boot_index=boot_index,
        volume_size=_integer(asked.volume_size, "volume_size", minimum=1),
        delete_on_termination=_flag(asked.delete_on_termination, "delete_on_termination"),
        device_name=asked.device_name or None, volume_type=asked.volume_type, tag=asked.tag,
        guest_format=asked.guest_format)


def block_device_mappings(request: Request, asked: list[BlockDeviceIn], image_given: bool) -> list[BlockDeviceMapping]:
    """The checked mappings of a create: each as Nova completes it, a tag only from 2.42 and a volume type only
    from 2.67, and boot indexes 0, 1, ... with a root (Nova's boot sequence rule)."""
    for item in asked:
        refuse_before(request, v(42), item.tag is not None, "tag")
        refuse_before(request, v(67), item.volume_type is not None, "volume_type")
    mappings = [_block_device(item, image_given) for item in asked]
    indexes = sorted(m.boot_index for m in mappings if m.boot_index is not None and m.boot_index >= 0)
    if mappings and (not indexes or indexes != list(range(len(indexes)))):
        raise BadRequest(BOOT_SEQUENCE)
    return mappings


def generate_password(length: int = 12) -> str:
    """Nova's generate_password: letters and digits, without the easily confused ones."""
    symbols = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    return "".join(secrets.choice(symbols) for _ in range(length))


def server_update(request: Request, data: Any) -> tuple[str | None, dict[str, Any]]:
    """The new name (or None) and the changed API-only attributes of a PUT /servers/{id}."""
    asked = parse(UpdateBody, data).server
    present = asked.model_fields_set
    refuse_before(request, v(19), "description" in present, "description")
    if "name" in present and asked.name is None:
        raise BadRequest("Invalid input for field/attribute name. None is not of type 'string'")
    changes: dict[str, Any] = {}
    if "description" in present:
        changes["description"] = asked.description
    if "accessIPv4" in present:
        changes["access_ipv4"] = asked.accessIPv4 or ""
    if "accessIPv6" in present:
        changes["access_ipv6"] = asked.accessIPv6 or ""
    if "disk_config" in present and asked.disk_config is not None:
        changes["disk_config"] = asked.disk_config
    return asked.name, changes


# listing

NOVA_SORT_KEYS = {
    "created_at": "created_at", "updated_at": "updated_at", "launched_at": "launched_at",
    "terminated_at": "terminated_at", "display_name": "name", "uuid": "uuid", "vm_state": "vm_state",
    "task_state": "task_state", "power_state": "power_state", "project_id": "project_id", "user_id": "user_id",
    "availability_zone": "availability_zone", "host": "host", "node": "node", "key_name": "key_name",
    "launch_index": "launch_index", "locked_by": "locked_by",
}
UNSORTED_NOVA_KEYS = frozenset({
    "access_ip_v4", "access_ip_v6", "auto_disk_config", "config_drive", "display_description", "hostname",
    "image_ref", "instance_type_id", "kernel_id", "progress", "ramdisk_id", "root_device_name",
    # keys Nova accepts and ignores
    "architecture", "cell_name", "cleaned", "default_ephemeral_device", "default_swap_device", "deleted",
    "deleted_at", "disable_terminate", "ephemeral_gb", "ephemeral_key_uuid", "id", "key_data",
    "launched_on", "locked", "memory_mb", "os_type", "reservation_id", "root_gb", "shutdown_terminate",
    "user_data", "vcpus", "vm_mode",
})
"""Sort keys Nova knows that we do not order by: accepted, and the other keys decide the order."""
ADMIN_SORT_KEYS = frozenset({"host", "node"})


def _sort(request: Request, admin: bool) -> tuple[tuple[str, str], ...]:
    keys = request.query_params.getlist("sort_key")
    dirs = request.query_params.getlist("sort_dir")
    for direction in dirs:
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid input for query parameters sort_dir. Value: {direction}.")
    sort: list[tuple[str, str]] = []
    for index, key in enumerate(keys):
        if key not in NOVA_SORT_KEYS and key not in UNSORTED_NOVA_KEYS:
            raise BadRequest(f"Invalid input for query parameters sort_key. Value: {key}.")
        if key in ADMIN_SORT_KEYS and not admin:
            raise Forbidden(f"Only administrators can sort servers by {key}")
        direction = dirs[index] if index < len(dirs) else (dirs[0] if dirs else "desc")
        if key in NOVA_SORT_KEYS:
            sort.append((NOVA_SORT_KEYS[key], direction))
    first = sort[0][1] if sort else (dirs[0] if dirs else "desc")
    if not any(key == "created_at" for key, _ in sort):
        sort.append(("created_at", first))
    return tuple(sort)


def _listed(value: str | None) -> frozenset[str]:
    return frozenset(t for t in (value or "").split(",") if t)


def _ref(value: str | None) -> str | None:
    return value.rstrip("/").rsplit("/", 1)[-1] if value else None


def server_query(request: Request, caller: Caller, version: Version, detail: bool) -> tuple[InstanceQuery, int]:
    """Nova's list filters: non-admins' admin-only filters are dropped silently, as Nova drops them."""
    params = request.query_params
    admin = caller.allows("os_compute_api:servers:allow_all_filters")
    all_tenants = bool(flag(params.get("all_tenants"), "all_tenants")) if "all_tenants" in params else False
    if all_tenants:
        caller.enforce(f"os_compute_api:servers:{'detail' if detail else 'index'}:get_all_tenants")
    project = caller.creds.project_id
    if all_tenants:
        project = (params.get("project_id") or params.get("tenant_id")) if admin else None
    limit, marker = limit_and_marker(request)
    name = params.get("name")
    if name is not None:
        try:
            re.compile("(?i)" + name)
        except re.error:
            raise BadRequest(f"Invalid input for query parameters name. Value: {name}.") from None
    # a token with no project (system or domain scope) lists its user's servers, as Nova does
    user = caller.creds.user_id if project is None and not all_tenants else None
    query: dict[str, Any] = {"project_id": project, "user_id": user, "name_pattern": name, "limit": limit,
                             "marker": marker, "image_id": _ref(params.get("image")),
                             "flavor_id": _ref(params.get("flavor")),
                             "reservation_id": params.get("reservation_id"), "sort": _sort(request, admin)}
    statuses = params.getlist("status")
    if statuses:
        vm_states, task_states = states.states_for_status(statuses)
        if not vm_states and version >= v(38):
            raise BadRequest(f"Invalid status value: {statuses[0]}")
        deleted_asked = "DELETED" in {s.strip().upper() for s in statuses}
        if deleted_asked and not admin:
            raise Forbidden("Only administrators may list deleted instances")
        query |= {"vm_states": vm_states, "task_states": task_states, "deleted": True if deleted_asked else None}
    if "changes-since" in params:
        query["changes_since"] = parse_time(params["changes-since"], "changes-since")
    if "changes-before" in params and version >= v(66):
        query["changes_before"] = parse_time(params["changes-before"], "changes-before")
        if query.get("changes_since") is not None and query["changes_since"] > query["changes_before"]:
            raise BadRequest("The value of changes-since must be less than or equal to changes-before.")
    if version >= v(26):
        query |= {"tags": _listed(params.get("tags")), "tags_any": _listed(params.get("tags-any")),
                  "not_tags": _listed(params.get("not-tags")), "not_tags_any": _listed(params.get("not-tags-any"))}
    if version >= v(73) and "locked" in params:
        query["locked"] = flag(params["locked"], "locked")
    if admin:
        query |= {k: params.get(k) for k in ("host", "node", "availability_zone", "key_name") if params.get(k)}
        if params.get("user_id"):
            query["user_id"] = params["user_id"]
        if params.getlist("vm_state"):
            query["vm_states"] = frozenset(params.getlist("vm_state"))
        if params.getlist("task_state"):
            query["task_states"] = frozenset(params.getlist("task_state"))
        if params.getlist("power_state"):
            try:
                query["power_states"] = frozenset(int(p) for p in params.getlist("power_state"))
            except ValueError:
                raise BadRequest("Invalid input for query parameters power_state.") from None
        if "deleted" in params:
            query["deleted"] = flag(params["deleted"], "deleted")
    return InstanceQuery(**query), limit
