"""Issue #5 through the unmodified ``openstack`` CLI against ``twinstack serve``: ``server add/remove security
group`` (every port of the server, shown by ``server show`` and ``port show``, refused as Nova refuses), the
re-plug a remote group's new member brings to the servers whose rules name it, ports following a server
that ``server migrate --live-migration`` moves, and the port bindings API (binding-extended) as openstacksdk
drives it.

The served cloud is another process, so the simulated agent is read through ``openstack console log show``:
it prints each port as last plugged on the server's host (rules with their remote addresses) and the
server's last plugs and unplugs, on whichever host (``sim-agent: <host> plug|unplug <port ids>``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openstack import connection as sdk
from openstack import exceptions
from openstack.config.loader import OpenStackConfig

from tests.api.test_cli_compute_moves import DATACENTER, settle, show
from tests.api.test_cli_network_plugs import console_until
from tests.conftest import OpenStackCLI, Served, serving_datacenter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serving_datacenter(tmp_path_factory, "served-network-server-groups", DATACENTER)


@pytest.fixture(scope="module")
def network(served: Served) -> str:
    cli = OpenStackCLI(served)
    cli.run("network", "create", "sg-net")
    cli.run("subnet", "create", "--network", "sg-net", "--subnet-range", "10.50.0.0/24", "sg-sub")
    return "sg-net"


def boot(openstack: OpenStackCLI, network: str, name: str, *groups: str) -> dict[str, Any]:
    chosen = [arg for group in groups for arg in ("--security-group", group)]
    created: dict[str, Any] = openstack.json(
        "server",
        "create",
        "--image",
        "twinstack-test",
        "--flavor",
        "m1.tiny",
        "--network",
        network,
        *chosen,
        "--wait",
        name,
    )
    assert created["status"] == "ACTIVE"
    return created


def port_of(openstack: OpenStackCLI, server: str) -> dict[str, Any]:
    [listed] = openstack.json("port", "list", "--server", server)
    shown: dict[str, Any] = openstack.json("port", "show", listed["ID"])
    return shown


def test_server_add_and_remove_security_group(openstack: OpenStackCLI, network: str) -> None:
    web = openstack.json("security", "group", "create", "cli-web")
    rule = openstack.json(
        "security",
        "group",
        "rule",
        "create",
        "--ingress",
        "--protocol",
        "tcp",
        "--dst-port",
        "8080",
        "--remote-ip",
        "198.51.100.0/24",
        "cli-web",
    )
    boot(openstack, network, "sg-vm")
    assert show(openstack, "sg-vm")["security_groups"] == [{"name": "default"}]
    line = f"rule {rule['id']} ingress IPv4 tcp 8080-8080 remote 198.51.100.0/24"

    openstack.run("server", "add", "security", "group", "sg-vm", "cli-web")
    assert show(openstack, "sg-vm")["security_groups"] == [{"name": "cli-web"}, {"name": "default"}]
    assert web["id"] in port_of(openstack, "sg-vm")["security_group_ids"]
    console_until(openstack, "sg-vm", line)

    openstack.run("server", "remove", "security", "group", "sg-vm", web["id"])  # by id as well
    assert show(openstack, "sg-vm")["security_groups"] == [{"name": "default"}]
    assert web["id"] not in port_of(openstack, "sg-vm")["security_group_ids"]
    console_until(openstack, "sg-vm", line, present=False)

    # Nova's refusals, as the CLI reports them; nothing changes
    missing = openstack.run("server", "add", "security", "group", "sg-vm", "no-such-group", check=False)
    assert missing.returncode != 0 and "Security group no-such-group is not found" in missing.stderr, missing.stderr
    twice = openstack.run("server", "add", "security", "group", "sg-vm", "default", check=False)
    assert twice.returncode != 0 and "Duplicate items in the list" in twice.stderr, twice.stderr
    absent = openstack.run("server", "remove", "security", "group", "sg-vm", "cli-web", check=False)
    assert absent.returncode != 0 and "not associated with the instance" in absent.stderr, absent.stderr
    assert show(openstack, "sg-vm")["security_groups"] == [{"name": "default"}]
    openstack.run("server", "delete", "--wait", "sg-vm")


def test_a_new_member_of_a_remote_group_reaches_the_servers_whose_rules_name_it(
    openstack: OpenStackCLI, network: str
) -> None:
    app = openstack.json("security", "group", "create", "cli-app")
    openstack.run("security", "group", "create", "cli-db")
    rule = openstack.json(
        "security",
        "group",
        "rule",
        "create",
        "--ingress",
        "--protocol",
        "tcp",
        "--dst-port",
        "5432",
        "--remote-group",
        "cli-app",
        "cli-db",
    )
    boot(openstack, network, "db-vm", "cli-db")
    console_until(openstack, "db-vm", f"rule {rule['id']} ingress IPv4 tcp 5432-5432 remote group {app['id']} []")

    boot(openstack, network, "app-vm", "cli-app")
    address = port_of(openstack, "app-vm")["fixed_ips"][0]["ip_address"]
    console_until(openstack, "db-vm", f"remote group {app['id']} [{address}]")

    openstack.run("server", "remove", "security", "group", "app-vm", "cli-app")
    console_until(openstack, "db-vm", f"remote group {app['id']} []")
    openstack.run("server", "add", "security", "group", "app-vm", "cli-app")
    console_until(openstack, "db-vm", f"remote group {app['id']} [{address}]")
    openstack.run("server", "delete", "--wait", "app-vm")
    console_until(openstack, "db-vm", f"remote group {app['id']} []")
    openstack.run("server", "delete", "--wait", "db-vm")


def test_a_live_migration_moves_the_port_binding_plug_and_unplug(openstack: OpenStackCLI, network: str) -> None:
    boot(openstack, network, "roam-vm")
    source = show(openstack, "roam-vm")["OS-EXT-SRV-ATTR:host"]
    port = port_of(openstack, "roam-vm")
    assert port["binding_host_id"] == source

    openstack.run("server", "migrate", "--live-migration", "--wait", "roam-vm")
    dest = settle(openstack, "roam-vm", "ACTIVE")["OS-EXT-SRV-ATTR:host"]
    assert dest != source
    assert port_of(openstack, "roam-vm")["binding_host_id"] == dest
    log = console_until(openstack, "roam-vm", f"sim-agent: {source} unplug {port['id']}")
    history = [line for line in log.splitlines() if line.startswith("sim-agent: ")]
    # plugged on the source at boot (and maybe re-plugged there: its joining the default group, whose rules name
    # the group, reaches it if it is bound by then), on the destination before the guest came and once it ran
    # there (the binding activated), then unplugged from the source
    assert history[-3:] == [
        f"sim-agent: {dest} plug {port['id']}",
        f"sim-agent: {dest} plug {port['id']}",
        f"sim-agent: {source} unplug {port['id']}",
    ]
    assert history[:-3] and set(history[:-3]) == {f"sim-agent: {source} plug {port['id']}"}
    assert f"port {port['id']} network" in log  # the destination holds it now (its console is this log)
    openstack.run("server", "delete", "--wait", "roam-vm")


def test_port_bindings_through_openstacksdk(served: Served, openstack: OpenStackCLI, network: str) -> None:
    boot(openstack, network, "bind-vm")
    host = show(openstack, "bind-vm")["OS-EXT-SRV-ATTR:host"]
    hosts = [s["Host"] for s in openstack.json("compute", "service", "list", "--service", "nova-compute")]
    other = next(h for h in hosts if h != host)
    port_id = port_of(openstack, "bind-vm")["id"]
    conn = sdk.Connection(config=OpenStackConfig(config_files=[str(served.clouds_yaml)]).get_one(cloud="twinstack"))
    try:
        assert [(b.host, b.status) for b in conn.network.port_bindings(port_id)] == [(host, "ACTIVE")]
        made = conn.network.create_port_binding(port_id, host=other)
        assert (made.host, made.status, made.vif_type) == (other, "INACTIVE", "ovs")
        with pytest.raises(exceptions.ConflictException, match="already exists"):
            conn.network.create_port_binding(port_id, host=other)
        activated = conn.network.activate_port_binding(port_id, other)
        assert activated is not None and activated.status == "ACTIVE"
        assert port_of(openstack, "bind-vm")["binding_host_id"] == other
        conn.network.delete_port_binding(port_id, host)
        assert [(b.host, b.status) for b in conn.network.port_bindings(port_id)] == [(other, "ACTIVE")]
        with pytest.raises(exceptions.NotFoundException, match="could not be found"):  # the active one: Neutron's 404
            conn.network.delete_port_binding(port_id, other, ignore_missing=False)
    finally:
        conn.close()
    openstack.run("server", "delete", "--wait", "bind-vm")
