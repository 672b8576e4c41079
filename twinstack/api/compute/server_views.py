"""How Nova shows a server, field by field, for each microversion and for admins and members.

At 2.1 a server carries exactly Nova 2.1's fields; later microversions add theirs (locked at 2.9,
host_status at 2.16, description at 2.19, tags at 2.26, the embedded flavor at 2.47,
trusted_image_certificates at 2.63, server_groups at 2.71, locked_reason at 2.73). The
OS-EXT-SRV-ATTR fields are for those the extended-attributes policy allows (admins).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from twinstack.api.compute import server_networks
from twinstack.api.compute.common import base_url, nova_datetime, nova_time, v
from twinstack.api.compute.microversion import Version
from twinstack.api.deps import Caller
from twinstack.core.compute.context import ComputeContext
from twinstack.core.compute.model import Instance
from twinstack.core.compute.stores import HostService
from twinstack.core.volume.server_volumes import volumes_attached_by_server

FAULT_STATUSES = ("ERROR", "DELETED")
PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")


def host_id(project_id: str, host: str | None) -> str:
    """Nova's hostId: which host, hashed with the project, so projects cannot map the cloud."""
    if not host:
        return ""
    return _hashed_host(project_id, host)


@functools.lru_cache(maxsize=16384)
def _hashed_host(project_id: str, host: str) -> str:
    """A page of a project's servers sits on a few hosts: each pair hashed once, not once per server."""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


def instance_name(instance: Instance) -> str:
    return f"instance-{instance.uuid[:8]}"


@dataclass
class ServerView:
    """What shaping servers for one request needs, looked up once (policy answers, hosts seen)."""

    request: Request
    version: Version
    caller: Caller
    compute: ComputeContext
    extended: bool = False
    host_status: bool = False
    extra_specs: bool = False
    _hosts: dict[str, HostService | None] = field(default_factory=dict)
    _addresses: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    _groups: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    _volumes: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    _now: float | None = None
    """The clock read once for the whole answer (a page of servers judges every host's heartbeat at one instant)."""

    @classmethod
    def build(cls, request: Request, version: Version, caller: Caller, compute: ComputeContext) -> ServerView:
        return cls(request, version, caller, compute,
                   extended=caller.allows("os_compute_api:os-extended-server-attributes"),
                   host_status=version >= v(16) and caller.allows("os_compute_api:servers:show:host_status"),
                   extra_specs=caller.allows("os_compute_api:os-flavor-extra-specs:index"))

    @functools.cached_property
    def _bookmark_base(self) -> str:
        """The links' common start, read off the request once for the whole answer (a page has 400 links)."""
        return f"{base_url(self.request)}/"

    @functools.cached_property
    def _self_base(self) -> str:
        return f"{base_url(self.request)}/v2.1/"

    def server_links(self, uuid: str) -> list[dict[str, str]]:
        return [{"rel": "self", "href": f"{self._self_base}servers/{uuid}"},
                {"rel": "bookmark", "href": f"{self._bookmark_base}servers/{uuid}"}]

    def prefetch(self, instances: list[Instance]) -> None:
        """Look up the hosts and addresses a page of servers needs at once: one query, not one per server."""
        self._addresses |= server_networks.addresses(self.caller.cloud, [i.uuid for i in instances])
        self._groups |= server_networks.security_groups_of(self.caller.cloud, [i.uuid for i in instances])
        self._volumes |= self._volumes_of([i.uuid for i in instances])
        if not self.host_status:
            return
        wanted = {i.host for i in instances if i.host and i.host not in self._hosts}
        if wanted:
            known = self.compute.hosts.services(wanted)
            self._hosts |= {name: known.get(name) for name in wanted}

    def _volumes_of(self, uuids: list[str]) -> dict[str, list[dict[str, object]]]:
        volume = self.caller.cloud.volume
        if volume is None:
            return {uuid: [] for uuid in uuids}
        return volumes_attached_by_server(volume, uuids)

    def volumes_attached(self, instance: Instance) -> list[dict[str, object]]:
        """Nova's os-extended-volumes:volumes_attached: ``[{"id"}]``, with ``delete_on_termination`` from 2.3."""
        if instance.uuid not in self._volumes:
            self._volumes |= self._volumes_of([instance.uuid])
        attached = self._volumes[instance.uuid]
        if self.version >= v(3):
            return attached
        return [{"id": item["id"]} for item in attached]

    def host(self, name: str) -> HostService | None:
        if name not in self._hosts:
            self._hosts[name] = self.compute.hosts.services([name]).get(name)
        return self._hosts[name]

    def status_of_host(self, instance: Instance) -> str:
        """Nova's host_status: UP, DOWN (forced), MAINTENANCE (disabled), UNKNOWN (silent) or "" (no host)."""
        host = self.host(instance.host) if instance.host else None
        if host is None:
            return ""
        if host.forced_down:
            return "DOWN"
        if host.disabled:
            return "MAINTENANCE"
        if self._now is None:
            self._now = self.compute.service.runtime.clock.now()
        return "UP" if self._now - host.last_heartbeat <= self.compute.service_down_time else "UNKNOWN"

    # pieces

    def addresses(self, instance: Instance) -> dict[str, list[dict[str, Any]]]:
        """Nova's addresses: the server's ports' fixed and floating IPs, per network name."""
        if instance.uuid not in self._addresses:
            self._addresses |= server_networks.addresses(self.caller.cloud, [instance.uuid])
        return self._addresses[instance.uuid]

    def security_groups(self, instance: Instance) -> list[dict[str, str]]:
        """Nova's security_groups: the groups of the server's ports, ``[{"name"}]`` per port (none: no field)."""
        if instance.uuid not in self._groups:
            self._groups |= server_networks.security_groups_of(self.caller.cloud, [instance.uuid])
        return self._groups[instance.uuid]

    def image(self, instance: Instance) -> dict[str, Any] | str:
        if instance.image is None:
            return ""
        return {"id": instance.image.id,
                "links": [{"rel": "bookmark", "href": f"{self._bookmark_base}images/{instance.image.id}"}]}

    def flavor(self, instance: Instance) -> dict[str, Any]:
        flavor = instance.flavor
        if self.version < v(47):
            return {"id": flavor.id,
                    "links": [{"rel": "bookmark", "href": f"{self._bookmark_base}flavors/{flavor.id}"}]}
        body: dict[str, Any] = {"vcpus": flavor.vcpus, "ram": flavor.ram_mb, "disk": flavor.disk_gb,
                                "ephemeral": flavor.ephemeral_gb, "swap": flavor.swap_mb,
                                "original_name": flavor.name}
        if self.extra_specs:
            body["extra_specs"] = dict(flavor.extra_specs)
        return body

    def fault(self, instance: Instance) -> dict[str, Any] | None:
        fault = instance.fault
        if fault is None:
            return None
        body: dict[str, Any] = {"code": fault.code, "created": nova_time(fault.created), "message": fault.message}
        if fault.details and (self.caller.creds.is_admin or fault.code != 500):
            body["details"] = fault.details
        return body

    def server_groups(self, instance: Instance) -> list[str]:
        group = instance.server_group_id or instance.scheduler_hints.get("group")
        return [str(group)] if group else []

    # whole servers

    def summary(self, instance: Instance) -> dict[str, Any]:
        """GET /servers: id, links and name only."""
        return {"id": instance.uuid, "links": self.server_links(instance.uuid),
                "name": instance.name}

    def core(self, instance: Instance) -> dict[str, Any]:
        """The fields every full view carries (also the whole of a pre-2.75 update answer)."""
        attrs = instance.attributes
        status = instance.status
        body: dict[str, Any] = {
            "id": instance.uuid,
            "name": instance.name,
            "status": status,
            "tenant_id": instance.project_id,
            "user_id": instance.user_id,
            "metadata": dict(instance.metadata),
            "hostId": host_id(instance.project_id, instance.host),
            "image": self.image(instance),
            "flavor": self.flavor(instance),
            "created": nova_time(instance.created_at),
            "updated": nova_time(instance.updated_at),
            "addresses": self.addresses(instance),
            "accessIPv4": attrs.access_ipv4,
            "accessIPv6": attrs.access_ipv6,
            "links": self.server_links(instance.uuid),
            "OS-DCF:diskConfig": attrs.disk_config,
        }
        if status in FAULT_STATUSES and (fault := self.fault(instance)) is not None:
            body["fault"] = fault
        if status in PROGRESS_STATUSES:
            body["progress"] = 0
        return body

    def versioned(self, instance: Instance, body: dict[str, Any], with_groups: bool) -> dict[str, Any]:
        attrs = instance.attributes
        if self.version >= v(9):
            body["locked"] = instance.locked_by is not None
        if self.version >= v(73):
            body["locked_reason"] = attrs.locked_reason
        if self.version >= v(19):
            body["description"] = attrs.description
        if self.version >= v(26):
            body["tags"] = list(attrs.tags)
        if self.version >= v(63):
            body["trusted_image_certificates"] = attrs.trusted_image_certificates
        if with_groups and self.version >= v(71):
            body["server_groups"] = self.server_groups(instance)
        return body

    def show(self, instance: Instance, with_groups: bool = False) -> dict[str, Any]:
        """GET /servers/{id} and each item of /servers/detail."""
        attrs = instance.attributes
        body = self.core(instance)
        body |= {
            "OS-EXT-AZ:availability_zone": instance.availability_zone or "",
            "config_drive": "True" if attrs.config_drive else "",
            "key_name": instance.key_name,
            "OS-SRV-USG:launched_at": nova_datetime(instance.launched_at),
            "OS-SRV-USG:terminated_at": nova_datetime(instance.terminated_at),
        }
        if groups := self.security_groups(instance):
            body["security_groups"] = groups  # read from its ports, as Nova does: a server without any has none
        if self.extended:
            body |= {"OS-EXT-SRV-ATTR:host": instance.host, "OS-EXT-SRV-ATTR:instance_name": instance_name(instance),
                     "OS-EXT-SRV-ATTR:hypervisor_hostname": instance.node}
            if self.version >= v(3):
                body |= {
                    "OS-EXT-SRV-ATTR:reservation_id": instance.reservation_id,
                    "OS-EXT-SRV-ATTR:launch_index": instance.launch_index,
                    "OS-EXT-SRV-ATTR:hostname": attrs.hostname,
                    "OS-EXT-SRV-ATTR:kernel_id": "",
                    "OS-EXT-SRV-ATTR:ramdisk_id": "",
                    "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda" if instance.launched_at else None,
                    "OS-EXT-SRV-ATTR:user_data": instance.user_data,
                }
        body |= {
            "OS-EXT-STS:task_state": instance.task_state,
            "OS-EXT-STS:vm_state": instance.vm_state,
            "OS-EXT-STS:power_state": instance.power_state,
            "os-extended-volumes:volumes_attached": self.volumes_attached(instance),
        }
        if self.host_status:
            body["host_status"] = self.status_of_host(instance)
        return self.versioned(instance, body, with_groups)

    def updated(self, instance: Instance) -> dict[str, Any]:
        """PUT /servers/{id}: the core fields before 2.75, the whole server from 2.75 on."""
        if self.version >= v(75):
            return self.show(instance, with_groups=True)
        return self.versioned(instance, self.core(instance), with_groups=True)

    def created(self, instance: Instance, admin_password: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": instance.uuid,
            "links": self.server_links(instance.uuid),
            "OS-DCF:diskConfig": instance.attributes.disk_config,
            "security_groups": [{"name": name} for name in instance.attributes.security_groups],
        }
        if admin_password is not None:
            body["adminPass"] = admin_password
        return body
