"""The load-balancing side of a served cloud, on the compute plane's runtime and bus: the worker, and (with
``loadbalancer.amphora = 'sim'``) the simulated amphorae. The cloud's APIs reach it through
``cloud.loadbalancer``."""

from __future__ import annotations

from dataclasses import dataclass

from twinstack.cloud import Cloud
from twinstack.compute_plane import ComputePlane
from twinstack.config import LoadBalancerSettings
from twinstack.core.loadbalancer.provisioning import LoadBalancerService
from twinstack.core.loadbalancer.worker import LoadBalancerWorker
from twinstack.sim.amphora import SimAmphoraDriver


@dataclass
class LoadBalancerPlane:
    service: LoadBalancerService
    worker: LoadBalancerWorker
    amphorae: SimAmphoraDriver | None = None


def start_loadbalancer(cloud: Cloud, compute: ComputePlane,
                       settings: LoadBalancerSettings | None = None) -> LoadBalancerPlane:
    settings = settings or cloud.settings.loadbalancer
    plane = LoadBalancerPlane(LoadBalancerService(compute.bus),
                              LoadBalancerWorker(compute.runtime, compute.bus, cloud.sessions))
    compute.runtime.call_soon(plane.worker.start)
    if settings.amphora == "sim":
        plane.amphorae = SimAmphoraDriver(compute.runtime, compute.bus, settings)
        compute.runtime.call_soon(plane.amphorae.start)
    cloud.loadbalancer = plane.service
    return plane
