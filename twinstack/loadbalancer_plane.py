"""The load-balancing side of a served cloud, on the compute plane's runtime and bus: the worker, and (with
``loadbalancer.amphora = 'sim'``) the simulated amphorae. The cloud's APIs reach it through
``cloud.loadbalancer``; with ``amphora = 'none'`` nothing would ever apply a change, so the API refuses them
(503) rather than leave load balancers PENDING_* for the worker to time out."""

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
    plane = LoadBalancerPlane(LoadBalancerService(compute.bus if settings.amphora != "none" else None),
                              LoadBalancerWorker(compute.runtime, compute.bus, cloud.sessions, settings))
    compute.runtime.call_soon(plane.worker.start)
    if settings.amphora == "sim":
        plane.amphorae = SimAmphoraDriver(compute.runtime, compute.bus, settings)
        compute.runtime.call_soon(plane.amphorae.start)
    cloud.loadbalancer = plane.service
    return plane
