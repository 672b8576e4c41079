"""Reaching the cells that have a bus of their own (twinstack.core.compute.cell_buses, twinstack.cell_buses): where a
transport URL puts a cell's queues, and a cell whose bus refuses a message counting as down for a while, so that it
costs the others one publish timeout, not one per message."""

from __future__ import annotations

import pytest

from twinstack.cell_buses import cell_bus_settings
from twinstack.config import BusSettings
from twinstack.core.clock import ManualClock
from twinstack.core.compute.cell_buses import CellBuses
from twinstack.core.compute.cells import CellUnavailable
from twinstack.rpc.bus import BusUnavailable
from twinstack.rpc.conductor import DeleteInstance
from twinstack.rpc.messages import Envelope

MAIN = BusSettings(transport="amqp", url="amqp://guest:guest@mq:5672//", prefix="cloud")


def test_a_cell_on_the_main_broker_gets_queues_of_its_own() -> None:
    same = cell_bus_settings(MAIN, "cell2", "amqp://guest:guest@mq:5672//")
    assert (same.transport, same.url, same.prefix) == ("amqp", "amqp://guest:guest@mq:5672//", "cloud.cell2")
    vhost = cell_bus_settings(MAIN, "cell3", "amqp://u:p@mq2:5672/cell3?prefix=c3&heartbeat=5")
    assert (vhost.url, vhost.prefix) == ("amqp://u:p@mq2:5672/cell3?heartbeat=5", "c3"), "prefix= is ours, not kombu's"
    local = cell_bus_settings(MAIN, "cell4", "inprocess://cell4")
    assert (local.transport, local.prefix) == ("inprocess", "cloud.cell4")
    assert local.publish_timeout == MAIN.publish_timeout


class Broker:
    """A cell's publisher that takes messages until told to refuse them."""

    def __init__(self) -> None:
        self.taken: list[tuple[str, str]] = []
        self.tries = 0
        self.refusing = False

    def publish(self, topic: str, envelope: Envelope) -> None:
        self.tries += 1
        if self.refusing:
            raise BusUnavailable("no broker")
        self.taken.append((topic, envelope.name))


@pytest.fixture
def brokers() -> dict[str, Broker]:
    return {"cell2": Broker(), "cell3": Broker()}


def buses(brokers: dict[str, Broker], clock: ManualClock, urls: dict[str, str]) -> CellBuses:
    return CellBuses(lambda: urls, lambda cell, _url: brokers[cell], clock, refresh_seconds=10, retry_after=30)


def delete() -> DeleteInstance:
    return DeleteInstance(instance_uuid="u1", request_id="req-1")


def test_a_refused_message_puts_the_cell_down_for_a_while_and_no_other(brokers: dict[str, Broker]) -> None:
    clock = ManualClock()
    cells = buses(brokers, clock, {"cell2": "amqp://a", "cell3": "amqp://b"})
    assert cells.cells() == {"cell2", "cell3"} and cells.own("cell2") and not cells.own("cell1")
    assert not cells.own(None)
    brokers["cell2"].refusing = True
    with pytest.raises(CellUnavailable):
        cells.send("cell2", "conductor", delete())
    assert cells.down() == {"cell2"}
    cells.send("cell3", "conductor", delete())
    assert brokers["cell3"].taken == [("conductor", "conductor.delete_instance")], "the other cell is reached"

    clock.advance(29)
    with pytest.raises(CellUnavailable):
        cells.send("cell2", "conductor", delete())
    assert brokers["cell2"].tries == 1, "while down, refused at once: the broker is not asked again"
    brokers["cell2"].refusing = False
    clock.advance(2)
    assert cells.down() == frozenset()
    cells.send("cell2", "conductor", delete())
    assert brokers["cell2"].taken == [("conductor", "conductor.delete_instance")]


def test_cells_are_read_again_after_the_refresh_interval(brokers: dict[str, Broker]) -> None:
    clock = ManualClock()
    urls = {"cell2": "amqp://a"}
    cells = buses(brokers, clock, urls)
    assert cells.cells() == {"cell2"}
    urls["cell3"] = "amqp://b"
    assert not cells.own("cell3"), "read again only after refresh_seconds"
    with pytest.raises(CellUnavailable):
        cells.send("cell3", "conductor", delete())
    clock.advance(10)
    assert cells.own("cell3")
    cells.send("cell3", "conductor", delete())
    assert brokers["cell3"].taken == [("conductor", "conductor.delete_instance")]
