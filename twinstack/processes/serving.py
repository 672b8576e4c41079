"""``twinstack serve --workers N``: N API worker processes on one port (uvicorn's pre-fork supervisor).

The serving process bootstraps the cloud, runs the control plane unless it runs elsewhere, and hands the socket
to N workers; each worker opens the cloud from the settings the serving process passed it and reaches the
conductors over RabbitMQ (twinstack.processes.api_plane). Why uvicorn's workers rather than a pre-fork of our
own: it already binds once, restarts a worker that dies and stops them all on SIGTERM; our part is only how a
worker builds its app.
"""

from __future__ import annotations

import atexit
import os
import socket

from fastapi import FastAPI

from twinstack.config import Settings

WORKER_SETTINGS = "TWINSTACK_WORKER_SETTINGS"
"""The environment variable carrying the serving process's settings (JSON) to its workers."""


def serve_workers(settings: Settings, workers: int, listener: socket.socket) -> None:
    """Serve the APIs from ``workers`` processes on ``listener`` (bound by the serving process) until SIGTERM or
    SIGINT. What ``uvicorn.run(workers=N)`` does, on our socket rather than one it binds."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ[WORKER_SETTINGS] = settings.model_dump_json(by_alias=True)
    # keep-alive longer than the openstack CLI's 5 s polling, as the single-process server does
    config = uvicorn.Config("twinstack.processes.serving:worker_app", factory=True, workers=workers,
                            log_level="warning", access_log=False, timeout_keep_alive=75)
    Multiprocess(config, sockets=[listener]).run()


def worker_app() -> FastAPI:
    """One worker's app: the cloud the serving process described, its compute and volumes over the bus."""
    from twinstack.api.app import create_app
    from twinstack.cloud import open_cloud
    from twinstack.collector import settle_for_serving
    from twinstack.logs import configure_logging
    from twinstack.processes.api_plane import connect_api

    settings = Settings.model_validate_json(os.environ[WORKER_SETTINGS])
    configure_logging(settings.logging)
    cloud = open_cloud(settings, upgrade=False)  # the serving process migrated it before starting us
    plane = connect_api(cloud)
    atexit.register(plane.stop)
    app = create_app(cloud)
    settle_for_serving()
    return app
