"""Load balancers never stay PENDING_* for good, and only the answer to the apply in flight settles them: a
silent amphora is sent the apply again and, past the timeout, the change fails (Octavia's revert) so that the
load balancer can still be deleted; an apply lost between the API and the worker (the API died after
committing, or its send failed) is sent by the worker's sweep, or by a worker starting; a settling that failed
is done on the resent apply's answer; a redelivered request applies once; an answer to another apply changes
nothing; with no amphora driver, changes are refused (503)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.compute_helpers import Member, make_member
from tests.api.loadbalancer_helpers import Octavia, fault, on_the_runtime
from tests.api.network_fixtures import plane  # noqa: F401  (fixture)
from tests.api.network_helpers import Neutron
from tests.conftest import Api
from twinstack.cloud import Cloud
from twinstack.compute_plane import ComputePlane
from twinstack.config import LoadBalancerSettings
from twinstack.core.loadbalancer import provisioning
from twinstack.core.loadbalancer.provisioning import LoadBalancerService
from twinstack.core.loadbalancer.worker import LoadBalancerWorker
from twinstack.loadbalancer_plane import start_loadbalancer
from twinstack.rpc.bus import send
from twinstack.rpc.loadbalancer import LOADBALANCER_TOPIC, LoadBalancerApplied, ProvisionLoadBalancer
from twinstack.sim.amphora import SimAmphoraDriver

Start = Callable[..., SimAmphoraDriver]


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


@pytest.fixture
def start(cloud: Cloud, plane: ComputePlane) -> Iterator[Start]:  # noqa: F811
    """Start the worker and simulated amphorae with the given settings (quick applies by default)."""
    def started(**settings: Any) -> SimAmphoraDriver:
        running = start_loadbalancer(cloud, plane, LoadBalancerSettings(**{"apply_seconds": 0.05, **settings}))
        assert running.amphorae is not None
        return running.amphorae

    yield started
    cloud.loadbalancer = LoadBalancerService()


@pytest.fixture
def octavia(api: Api, alice: Member) -> Octavia:
    return Octavia(api, alice.token)


@pytest.fixture
def subnet(api: Api, alice: Member) -> dict[str, Any]:
    neutron = Neutron(api, alice.token)
    return neutron.subnet(neutron.network("lb-net")["id"], "10.40.0.0/24")


def wait_status(octavia: Octavia, path: str, key: str, wanted: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (shown := octavia.show(path, key))["provisioning_status"] != wanted:
        assert time.monotonic() < deadline, f"{path} stayed {shown['provisioning_status']}, not {wanted}"
        time.sleep(0.02)
    return shown


def lose_requests(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API commits each change and its word to the worker is lost (the API died in between)."""
    monkeypatch.setattr(cloud.loadbalancer, "provision", lambda loadbalancer_id: None)


def test_a_silent_amphora_is_sent_the_apply_again(octavia: Octavia, start: Start, subnet: dict[str, Any]) -> None:
    amphorae = start(resend_seconds=0.2, apply_timeout=30)
    amphorae.silent = True
    lb = octavia.create("/loadbalancers", "loadbalancer", vip_subnet_id=subnet["id"])
    time.sleep(0.15)  # the first apply was taken and never answered
    assert octavia.show(f"/loadbalancers/{lb['id']}", "loadbalancer")["provisioning_status"] == "PENDING_CREATE"
    amphorae.silent = False
    assert octavia.wait_active(lb["id"], timeout=5)["operating_status"] == "ONLINE"
    assert amphorae.configs[lb["id"]].vip_address == lb["vip_address"]


def test_past_the_timeout_a_stuck_change_fails_and_the_load_balancer_can_still_go(
        octavia: Octavia, start: Start, subnet: dict[str, Any]) -> None:
    amphorae = start(resend_seconds=0.1, apply_timeout=0.5)
    lb = octavia.create("/loadbalancers", "loadbalancer", vip_subnet_id=subnet["id"])
    octavia.wait_active(lb["id"])
    listener = octavia.create("/listeners", "listener", loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80)
    octavia.wait_active(lb["id"])
    path = f"/loadbalancers/{lb['id']}"

    amphorae.silent = True
    assert octavia.request("DELETE", f"{path}?cascade=true").status_code == 204
    errored = wait_status(octavia, path, "loadbalancer", "ERROR", timeout=5)
    assert errored["operating_status"] == "ERROR"
    assert octavia.show(f"/listeners/{listener['id']}", "listener")["provisioning_status"] == "ERROR"
    amphorae.silent = False
    assert octavia.request("DELETE", f"{path}?cascade=true").status_code == 204
    octavia.wait_gone(path)
    assert lb["id"] not in amphorae.configs


def test_an_apply_lost_on_the_way_to_the_worker_is_sent_by_its_sweep(
        cloud: Cloud, octavia: Octavia, start: Start, subnet: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    amphorae = start(resend_seconds=0.2)
    lose_requests(cloud, monkeypatch)
    lb = octavia.create("/loadbalancers", "loadbalancer", vip_subnet_id=subnet["id"])
    octavia.wait_active(lb["id"], timeout=5)
    assert [action for _, lb_id, action in amphorae.applied if lb_id == lb["id"]] == ["create"]


def test_a_failed_send_after_the_commit_is_not_an_error_and_the_sweep_sends_the_apply(
        octavia: Octavia, start: Start, subnet: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    amphorae = start(resend_seconds=0.2)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise ConnectionError("the broker went away")

    monkeypatch.setattr(provisioning, "send", broken)
    created = octavia.request("POST", "/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet["id"]}})
    assert created.status_code == 201, created.text  # the change is recorded: the client is told so
    lb = created.json()["loadbalancer"]
    octavia.wait_active(lb["id"], timeout=5)
    assert lb["id"] in amphorae.configs


def test_a_settling_that_failed_is_done_again_on_the_resent_applys_answer(
        octavia: Octavia, start: Start, subnet: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    amphorae = start(resend_seconds=0.2)
    done = LoadBalancerWorker._done
    failures = [RuntimeError("the database went away")]

    def flaky(session: Any, tree: Any) -> None:
        if failures:
            raise failures.pop()
        done(session, tree)

    monkeypatch.setattr(LoadBalancerWorker, "_done", staticmethod(flaky))
    lb = octavia.create("/loadbalancers", "loadbalancer", vip_subnet_id=subnet["id"])
    octavia.wait_active(lb["id"], timeout=5)
    assert failures == []
    assert [action for _, lb_id, action in amphorae.applied if lb_id == lb["id"]] == ["create"]


def test_a_starting_worker_picks_up_what_a_dead_one_left_pending(
        cloud: Cloud, plane: ComputePlane, octavia: Octavia, start: Start,  # noqa: F811
        subnet: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = LoadBalancerSettings(apply_seconds=0.05, resend_seconds=600)
    amphorae = start(**settings.model_dump())
    lose_requests(cloud, monkeypatch)
    lb = octavia.create("/loadbalancers", "loadbalancer", vip_subnet_id=subnet["id"])
    time.sleep(0.2)
    assert octavia.show(f"/loadbalancers/{lb['id']}", "loadbalancer")["provisioning_status"] == "PENDING_CREATE"
    successor = LoadBalancerWorker(plane.runtime, plane.bus, cloud.sessions, settings)
    plane.runtime.call_soon(successor.start)
    octavia.wait_active(lb["id"], timeout=5)
    assert lb["id"] in amphorae.configs


def test_a_redelivered_request_applies_once(cloud: Cloud, plane: ComputePlane, octavia: Octavia,  # noqa: F811
                                            start: Start, subnet: dict[str, Any],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    amphorae = start(resend_seconds=600)
    lose_requests(cloud, monkeypatch)
    lb = octavia.create("/loadbalancers", "loadbalancer", vip_subnet_id=subnet["id"])
    amphorae.pause()
    request = ProvisionLoadBalancer(loadbalancer_id=lb["id"])
    send(plane.bus, LOADBALANCER_TOPIC, request)
    send(plane.bus, LOADBALANCER_TOPIC, request)  # the bus delivers it again
    on_the_runtime(plane)
    time.sleep(0.2)  # every apply sent is applied by now (its answer held)
    amphorae.resume()
    octavia.wait_active(lb["id"])
    on_the_runtime(plane)
    assert [action for _, lb_id, action in amphorae.applied if lb_id == lb["id"]] == ["create"]


def test_an_answer_to_another_apply_changes_nothing(plane: ComputePlane, octavia: Octavia,  # noqa: F811
                                                    start: Start, subnet: dict[str, Any]) -> None:
    amphorae = start(resend_seconds=600)
    lb = octavia.create("/loadbalancers", "loadbalancer", vip_subnet_id=subnet["id"])
    octavia.wait_active(lb["id"])
    amphorae.pause()
    listener = octavia.create("/listeners", "listener", loadbalancer_id=lb["id"], protocol="HTTP", protocol_port=80)
    for ok in (True, False):  # a late answer to an older apply, or a duplicate
        send(plane.bus, LOADBALANCER_TOPIC, LoadBalancerApplied(command_id="an-older-apply", loadbalancer_id=lb["id"],
                                                                ok=ok))
    on_the_runtime(plane)
    assert octavia.show(f"/listeners/{listener['id']}", "listener")["provisioning_status"] == "PENDING_CREATE"
    assert octavia.show(f"/loadbalancers/{lb['id']}", "loadbalancer")["provisioning_status"] == "PENDING_UPDATE"
    assert [li.id for li in amphorae.configs[lb["id"]].listeners] == []
    amphorae.resume()
    octavia.wait_active(lb["id"])
    assert octavia.show(f"/listeners/{listener['id']}", "listener")["provisioning_status"] == "ACTIVE"


def test_with_no_amphora_driver_changes_are_refused(cloud: Cloud, plane: ComputePlane,  # noqa: F811
                                                    octavia: Octavia, start: Start, subnet: dict[str, Any]) -> None:
    start()
    lb = octavia.create("/loadbalancers", "loadbalancer", name="kept", vip_subnet_id=subnet["id"])
    octavia.wait_active(lb["id"])
    start_loadbalancer(cloud, plane, LoadBalancerSettings(amphora="none"))
    path = f"/loadbalancers/{lb['id']}"
    unavailable = "The load-balancing workers are not running."
    assert fault(octavia.request("POST", "/loadbalancers", json={"loadbalancer": {"vip_subnet_id": subnet["id"]}}),
                 503) == unavailable
    assert fault(octavia.request("PUT", path, json={"loadbalancer": {"name": "renamed"}}), 503) == unavailable
    assert fault(octavia.request("DELETE", path), 503) == unavailable
    assert fault(octavia.request("POST", "/listeners", json={"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}}), 503) == unavailable
    shown = octavia.show(path, "loadbalancer")
    assert (shown["name"], shown["provisioning_status"]) == ("kept", "ACTIVE")
    assert [b["id"] for b in octavia.request("GET", "/loadbalancers").json()["loadbalancers"]] == [lb["id"]]
