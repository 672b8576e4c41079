"""The services one Twinstack server offers: where each is mounted and how the catalog lists it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI

from twinstack.api import compute, identity, image, loadbalancer, network, placement, volume
from twinstack.cloud import Cloud
from twinstack.core.identity.bootstrap import ServiceEntry


@dataclass(frozen=True)
class ServiceMount:
    type: str
    name: str
    prefix: str
    catalog_suffix: str
    build: Callable[[Cloud, str], FastAPI]
    description: str = ""

    def base_url(self, public_url: str) -> str:
        return f"{public_url}{self.prefix}"

    def catalog_entry(self, public_url: str) -> ServiceEntry:
        return ServiceEntry(self.type, self.name, self.base_url(public_url) + self.catalog_suffix,
                            self.description)


SERVICES: tuple[ServiceMount, ...] = (
    ServiceMount("identity", "keystone", "/identity", "/v3", identity.build_app, "Identity Service"),
    ServiceMount("placement", "placement", "/placement", "", placement.build_app, "Placement Service"),
    ServiceMount("compute", "nova", "/compute", "/v2.1", compute.build_app, "Compute Service"),
    ServiceMount("image", "glance", "/image", "", image.build_app, "Image Service"),
    ServiceMount("network", "neutron", "/network", "", network.build_app, "Networking Service"),
    ServiceMount("load-balancer", "octavia", "/load-balancer", "", loadbalancer.build_app,
                 "Octavia Load Balancing Service"),
    ServiceMount("block-storage", "cinder", "/volume", "/v3", volume.build_app, "Block Storage Service"),
)


def catalog_entries(public_url: str) -> list[ServiceEntry]:
    return [service.catalog_entry(public_url) for service in SERVICES]
