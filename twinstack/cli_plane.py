"""The commands that run one part of a cloud as its own process: ``twinstack agent``, ``twinstack conductor`` and
``twinstack scheduler``.

Every part meets the others on RabbitMQ (bus.transport = 'amqp', the same url and prefix everywhere);
conductors, schedulers and API workers share the database too, agents never open it. ``twinstack serve --no-plane
--workers N`` serves the APIs in front of them (see README.md, "Scaling out").
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from twinstack.cli_options import DatabaseUrl, DataDir
from twinstack.config import Settings, load_settings

if TYPE_CHECKING:
    from twinstack.cloud import Cloud


def _bus_settings(data_dir: Path | None, database_url: str | None, what: str) -> Settings:
    from twinstack.processes.lifetime import NeedsBroker, require_amqp

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    try:
        require_amqp(settings.bus, what)
    except NeedsBroker as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    return settings


def _shared_cloud(settings: Settings) -> Cloud:
    """The cloud's database once it is ready (a part started before ``serve``/``bootstrap`` made it waits for it);
    exits with the reason if it never is."""
    from twinstack.cloud import open_cloud
    from twinstack.processes.database import DatabaseNotReady, wait_for_cloud

    try:
        wait_for_cloud(settings)
    except DatabaseNotReady as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    return open_cloud(settings, upgrade=False)


def agent(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    backend: Annotated[str, typer.Option(help="'real' (this machine's libvirt) or 'sim' (simulated hosts).")] = "real",
    hosts: Annotated[int | None, typer.Option(min=1, help="Simulated hosts in this process (--backend sim).")] = None,
    datacenter: Annotated[Path | None, typer.Option(
        help="Datacenter YAML for --backend sim: its layout as it is, or with --hosts the shape of its first rack.")]
    = None,
    name: Annotated[str | None, typer.Option(
        help="The agent's name; simulated hosts are named <name>-r<rack>-<n> (default sim-<pid>).")] = None,
    probe: Annotated[bool, typer.Option(help="Start, print what the host reports, and exit (--backend real).")]
    = False,
) -> None:
    """Run a host agent that joins the control plane over RabbitMQ (setting bus.transport = 'amqp').

    ``--backend sim --hosts N`` runs N simulated hosts in this process: start several such processes (each with
    its own ``--name``) for thousands of hosts. The default, ``--backend real``, runs this machine's libvirt agent.
    """
    import os

    from twinstack.logs import configure_logging
    from twinstack.processes.lifetime import run_until_stopped

    if backend not in ("real", "sim"):
        raise typer.BadParameter("--backend is 'real' or 'sim'")
    if backend == "real" and (probe or load_settings(data_dir=data_dir).bus.transport != "amqp"):
        from twinstack.real.cli import agent as real_agent

        real_agent(data_dir=data_dir, database_url=database_url, probe=probe)
        return
    settings = _bus_settings(data_dir, database_url, "a host agent")
    configure_logging(settings.logging)
    if backend == "real":
        from twinstack.processes.real_agent import start_real_agent_process

        real = start_real_agent_process(settings)
        run_until_stopped(real.stop, lambda: typer.echo(f"agent {real.agent.config.name} joined over RabbitMQ"))
        return
    from twinstack.processes.sim_agent import datacenter_of, start_sim_agent
    from twinstack.sim.datacenter import DatacenterFileError

    agent_name = name or f"sim-{os.getpid()}"
    try:
        layout = datacenter_of(agent_name, hosts, datacenter)
    except (DatacenterFileError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    running = start_sim_agent(settings, agent_name, layout)
    run_until_stopped(running.stop, lambda: typer.echo(
        f"agent {agent_name}: {len(running.agent.hosts)} simulated hosts joined over RabbitMQ"))


def conductor(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    name: Annotated[str | None, typer.Option(
        help="Unique name of this conductor (default conductor-<hostname>-<pid>).")] = None,
    cell: Annotated[str | None, typer.Option(
        help="Run the conductor of this cell (one created with a --transport-url), on the cell's own bus.")] = None,
) -> None:
    """Run a conductor (with the block storage manager) on the cloud's database and RabbitMQ.

    Run as many as wanted: they share the work of the 'conductor' topic, each claims hosts through SQL so none is
    overcommitted, and a conductor that starts takes over the builds, deletes and power actions of conductors that
    died. Builds are scheduled by the conductor itself, or, with setting compute.scheduler = 'remote', by
    'twinstack scheduler' processes.
    Start the cloud once (``twinstack serve --no-plane`` or ``twinstack bootstrap``): that creates the database,
    which a conductor started meanwhile waits for.

    With ``--cell NAME``, the conductor of a cell created with its own bus (``twinstack cell create
    --transport-url``): it runs on that bus, where the cell's agents report, and carries out the builds the
    top-level conductors place in the cell and the actions on its servers. Run as many per cell as wanted: they
    beat in the cell's database and take over the work of one that dies.
    """
    from twinstack.logs import configure_logging
    from twinstack.processes.conductor import default_name, start_conductor
    from twinstack.processes.lifetime import run_until_stopped

    settings = _bus_settings(data_dir, database_url, "a conductor")
    configure_logging(settings.logging)
    cloud = _shared_cloud(settings)
    conductor_name = name or default_name()
    plane = start_conductor(cloud, conductor_name, cell)

    def stop() -> None:
        plane.stop()
        cloud.close()

    run_until_stopped(stop, lambda: typer.echo(f"conductor {conductor_name} is running"))


def scheduler(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    name: Annotated[str | None, typer.Option(
        help="Name of this scheduler in logs (default scheduler-<hostname>-<pid>).")] = None,
) -> None:
    """Run a scheduler service on the cloud's database and RabbitMQ, for conductors with compute.scheduler = 'remote'.

    Run as many as wanted: they compete for the requests of the 'scheduler' topic, decide each with Nova's filters
    and weighers and claim the chosen host in SQL, so no host is double-booked whichever scheduler claims. A request
    a scheduler held when it died is redelivered to another. Start the cloud once first (``twinstack serve
    --no-plane`` or ``twinstack bootstrap``): a scheduler started meanwhile waits for the database.
    """
    import os
    import socket

    from twinstack.logs import configure_logging
    from twinstack.processes.lifetime import run_until_stopped
    from twinstack.processes.scheduler import start_scheduler

    settings = _bus_settings(data_dir, database_url, "a scheduler")
    configure_logging(settings.logging)
    cloud = _shared_cloud(settings)
    scheduler_name = name or f"scheduler-{socket.gethostname()}-{os.getpid()}"
    running = start_scheduler(cloud, scheduler_name)

    def stop() -> None:
        running.stop()
        cloud.close()

    run_until_stopped(stop, lambda: typer.echo(f"scheduler {scheduler_name} is running"))
