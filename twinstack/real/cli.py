"""The real host's commands: ``twinstack image build-test`` and ``twinstack agent``.

Kept out of :mod:`twinstack.cli` so that the main command never imports libvirt; each command imports
what it needs when it runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from twinstack.cli_options import DatabaseUrl, DataDir
from twinstack.config import load_settings

image_app = typer.Typer(help="Images on real hosts.", no_args_is_help=True)


@image_app.command("build-test")
def build_test(
    data_dir: DataDir = None,
    name: Annotated[str, typer.Option(help="Name of the boot image.")] = "twinstack-busybox",
    clouds_yaml: Annotated[Path | None, typer.Option(help="Credentials (default <data-dir>/clouds.yaml).")] = None,
) -> None:
    """Build the small test image (this machine's kernel + a busybox initramfs) and upload it to the served cloud."""
    from twinstack.real.test_image_upload import build_and_upload

    settings = load_settings(data_dir=data_dir)
    uploaded = build_and_upload(settings.data_dir / "test-image", clouds_yaml or settings.data_dir / "clouds.yaml",
                                name)
    typer.echo(f"kernel {uploaded.kernel_version}: image {name} {uploaded.boot_id} "
               f"(kernel_id {uploaded.kernel_id}, ramdisk_id {uploaded.ramdisk_id})")
    typer.echo(f"boot it with: openstack server create --image {name} --flavor m1.tiny --wait <name>")


def agent(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    probe: Annotated[bool, typer.Option(help="Start, print what the host reports, and exit.")] = False,
) -> None:
    """The real host agent without a broker: ``--probe`` connects to libvirt, decides kvm or TCG, reads the
    inventory and lists the instances found. Joining a control plane needs bus transport 'amqp'
    (``twinstack agent``, twinstack.cli_plane); ``twinstack serve --backend real`` runs one in-process.
    """
    from twinstack.real.agent import RealAgent
    from twinstack.real.assemble import agent_config
    from twinstack.rpc.compute import HostInstances, HostsRegistered
    from twinstack.rpc.inprocess import InProcessBus
    from twinstack.rpc.messages import open_envelope
    from twinstack.sim.runtime import LiveRuntime

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    if not probe:
        typer.echo("A standalone agent reaches its control plane over RabbitMQ: set bus.transport = 'amqp' "
                   "(TWINSTACK_BUS__TRANSPORT=amqp).\n"
                   "Use 'twinstack serve --backend real' for an all-in-one cloud, or 'twinstack agent --probe'.",
                   err=True)
        raise typer.Exit(2)
    runtime = LiveRuntime()
    bus = InProcessBus(runtime)
    heard: list[str] = []

    def show(envelope: object) -> None:
        message = open_envelope(envelope)  # type: ignore[arg-type]
        if isinstance(message, HostsRegistered):
            for host in message.hosts:
                heard.append(f"host {host.host} ({host.hypervisor_type}) ip {host.host_ip} traits {host.traits}")
                heard.extend(f"  {rc}: total {inv.total} reserved {inv.reserved} ratio {inv.allocation_ratio}"
                             for rc, inv in host.inventory.items())
        elif isinstance(message, HostInstances):
            heard.append(f"instances found: {message.instances or 'none'}")

    bus.subscribe("conductor", show)
    runtime.start()
    real = RealAgent(agent_config(settings), runtime, bus)
    runtime.call_soon(real.start)
    real.ready.wait(120)
    time.sleep(0.5)
    real.stop()
    runtime.stop()
    if real.failure is not None:
        typer.echo(f"agent failed to start: {real.failure}", err=True)
        raise typer.Exit(1)
    typer.echo(f"virt_type {real.virt_type}")
    for line in heard:
        typer.echo(line)

