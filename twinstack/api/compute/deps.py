"""Dependencies of the compute API: the negotiated microversion and the running compute plane."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from twinstack.api.compute.microversion import MIN_VERSION, Version
from twinstack.api.deps import CloudDep
from twinstack.core.compute.context import ComputeContext
from twinstack.core.errors import CloudError


class ComputeUnavailable(CloudError):
    status = 503
    title = "Service Unavailable"


def get_microversion(request: Request) -> Version:
    version: Version = getattr(request.state, "microversion", MIN_VERSION)
    return version


def get_compute(cloud: CloudDep) -> ComputeContext:
    if cloud.compute is None:
        raise ComputeUnavailable("No compute plane is running in this server.")
    return cloud.compute


async def _microversion_on_loop(request: Request) -> Version:
    """:func:`get_microversion` on the event loop, as the shared dependencies are (see ``api.deps``)."""
    return get_microversion(request)


async def _compute_on_loop(cloud: CloudDep) -> ComputeContext:
    return get_compute(cloud)


MicroversionDep = Annotated[Version, Depends(_microversion_on_loop)]
ComputeDep = Annotated[ComputeContext, Depends(_compute_on_loop)]
