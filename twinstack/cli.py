"""The ``twinstack`` command: serve a cloud, bootstrap it, show its configuration, migrate its database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twinstack.cli_audit import audit
from twinstack.cli_cells import cell_app
from twinstack.cli_options import DatabaseUrl, DataDir
from twinstack.cli_plane import agent, conductor, scheduler
from twinstack.config import Settings, describe_settings, load_settings
from twinstack.real.cli import image_app

app = typer.Typer(help="Twinstack: an OpenStack-compatible cloud over simulated or real hosts.",
                  no_args_is_help=True, add_completion=False)
config_app = typer.Typer(help="Inspect configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(cell_app, name="cell")
app.add_typer(image_app, name="image")
app.command("agent")(agent)
app.command("audit")(audit)
app.command("conductor")(conductor)
app.command("scheduler")(scheduler)



def _settings(data_dir: Path | None, database_url: str | None, **more: object) -> Settings:
    return load_settings(data_dir=data_dir, database_url=database_url, **more)


@app.command()
def serve(
    port: Annotated[int | None, typer.Option(help="Port (default 8000; 0: any free one, printed).")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    hosts: Annotated[int | None, typer.Option(help="Simulated hosts to run (default 100).")] = None,
    datacenter: Annotated[Path | None, typer.Option(help="YAML file describing the simulated datacenter.")] = None,
    speed: Annotated[float | None, typer.Option(help="Live simulation speed-up (virtual s per wall s).")] = None,
    backend: Annotated[str | None, typer.Option(
        help="Host agents: 'sim' (default), 'real' (this machine's libvirt, and its qcow2 volumes) or 'none'.")] = None,
    workers: Annotated[int, typer.Option(
        min=1, help="API worker processes (more than 1 needs bus transport 'amqp').")] = 1,
    no_plane: Annotated[bool, typer.Option(
        "--no-plane", help="Serve the APIs only: conductors, schedulers and agents run as 'twinstack conductor', "
        "'twinstack scheduler' and 'twinstack agent' processes (as with setting compute.plane = 'external').")]
    = False,
) -> None:
    """Start every service on one HTTP server, bootstrapping an empty data directory first.

    Compute runs over simulated hosts by default: ``--hosts N`` identical ones, or ``--datacenter FILE``.
    To scale out, run the APIs in ``--workers N`` processes and the control plane elsewhere (``--no-plane``,
    with ``twinstack conductor``, ``twinstack scheduler`` and ``twinstack agent``), all on PostgreSQL and RabbitMQ.
    """
    import uvicorn

    from twinstack.api.app import create_app
    from twinstack.cloud import open_cloud
    from twinstack.collector import settle_for_serving
    from twinstack.listener import bind_listener, bound_port
    from twinstack.logs import configure_logging
    from twinstack.processes.api_plane import connect_api
    from twinstack.processes.serving import serve_workers
    from twinstack.setup_cloud import bootstrap, start_compute

    settings = _settings(data_dir, database_url, port=port, host=host)
    try:
        listener = bind_listener(settings.host, settings.port)
    except OSError as exc:
        typer.echo(f"error: cannot listen on {settings.host}:{settings.port}: {exc.strerror}", err=True)
        raise typer.Exit(1) from exc
    settings = settings.model_copy(update={"port": bound_port(listener)})
    compute = settings.compute.model_copy(update={k: v for k, v in {
        "hosts": hosts, "datacenter": datacenter, "speed": speed, "backend": backend}.items() if v is not None})
    settings = settings.model_copy(update={"compute": compute})
    if settings.compute.backend == "real" and settings.volume.backend == "sim":  # sim volumes cannot reach real guests
        settings = settings.model_copy(update={"volume": settings.volume.model_copy(update={"backend": "real"})})
    configure_logging(settings.logging)
    embedded = not no_plane and settings.compute.plane == "embedded"
    if (workers > 1 or not embedded) and settings.bus.transport != "amqp":
        raise typer.BadParameter("--workers above 1 and a plane that runs elsewhere need bus.transport = 'amqp' "
                                 "(TWINSTACK_BUS__TRANSPORT=amqp): the processes meet on RabbitMQ")
    if embedded and settings.compute.scheduler == "remote" and settings.bus.transport != "amqp":
        raise typer.BadParameter("compute.scheduler = 'remote' asks 'twinstack scheduler' processes over RabbitMQ: "
                                 "set bus.transport = 'amqp' too (or leave compute.scheduler 'local')")
    cloud = open_cloud(settings)
    ready = bootstrap(cloud)
    plane = start_compute(cloud) if embedded else connect_api(cloud)
    typer.echo(f"Twinstack is serving at {settings.effective_public_url}")
    typer.echo("Point the openstack client at it with:")
    for line in ready.export_lines():
        typer.echo(f"  {line}")
    typer.echo("then try: openstack token issue", err=False)
    try:
        # Clients poll every few seconds (the openstack CLI's --wait every 5 s, exactly uvicorn's default
        # keep-alive): a longer keep-alive keeps a reused connection from being closed under a request.
        if workers > 1:
            serve_workers(settings, workers, listener)
        else:
            config = uvicorn.Config(create_app(cloud), log_level="warning", access_log=False, timeout_keep_alive=75)
            settle_for_serving()
            uvicorn.Server(config).run(sockets=[listener])
    finally:
        plane.stop()


@app.command("bootstrap")
def bootstrap_command(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    port: Annotated[int | None, typer.Option(help="Port the cloud will be served on.")] = None,
) -> None:
    """Create the admin, roles, services and endpoints (idempotent) and write clouds.yaml."""
    from twinstack.cloud import open_cloud
    from twinstack.setup_cloud import bootstrap

    cloud = open_cloud(_settings(data_dir, database_url, port=port))
    ready = bootstrap(cloud)
    cloud.close()
    typer.echo(f"Wrote {ready.clouds_yaml}")
    for line in ready.export_lines():
        typer.echo(line)


@app.command()
def simulate(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario YAML files (their variants run too).")],
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default sim-results/<name>).")] = None,
    compare: Annotated[bool, typer.Option("--compare", help="Run every scenario given side by side.")] = False,
    sweep: Annotated[str | None, typer.Option(help="name=low..high:step, e.g. hosts=1500..2500:100.")] = None,
    target: Annotated[str | None, typer.Option(help="What the sweep must meet, e.g. 'refusal_rate<0.01'.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Sweep every value instead of bisecting.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")] = False,
) -> None:
    """Run capacity-planning scenarios offline, through the production scheduler and conductor in virtual time.

    Writes metrics (JSON, CSV) and a self-contained HTML report into the output folder, all at once.
    """
    from twinstack.sim.offline.command import simulate_files, sweep_file
    from twinstack.sim.offline.scenario import ScenarioError

    try:
        if sweep is not None or target is not None:
            if sweep is None or target is None or len(scenarios) != 1:
                raise typer.BadParameter("--sweep and --target go together, with one scenario")
            folder, answer = sweep_file(scenarios[0], sweep, target, out, full, show_progress=not quiet)
            typer.echo(f"smallest {sweep.split('=')[0]} meeting {target}: {answer if answer is not None else 'none'}")
        else:
            if len(scenarios) > 1 and not compare:
                raise typer.BadParameter("several scenarios run side by side with --compare")
            folder = simulate_files(scenarios, out, show_progress=not quiet)
    except ScenarioError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"wrote {folder / 'report.html'}")


@config_app.command("show")
def config_show() -> None:
    """Print every option with its current value, default and help."""
    settings = load_settings()
    current = settings.model_dump(by_alias=True)
    for name, default, help_text in describe_settings():
        if "[]." in name:
            typer.echo(f"{name}  (in each entry)")
        else:
            value: object = current
            for part in name.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            typer.echo(f"{name} = {value!r}")
        typer.echo(f"    default: {default}")
        if help_text:
            typer.echo(f"    {help_text}")


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Apply every database migration (Alembic); an up-to-date database is left as it is."""
    from twinstack.db import migrate
    from twinstack.db.session import make_engine

    settings = _settings(data_dir, database_url)
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    migrate.upgrade(engine)
    typer.echo(f"Database at revision {migrate.current_revision(engine)}")
    engine.dispose()


if __name__ == "__main__":
    app()
