"""A conductor's copy of where hosts are (node, cell, zone): read once for many builds, read again when it is older
than its max age, and, for one host alone, when that host is not in it; hosts registering through its conductor are
learnt without a read."""

from __future__ import annotations

from twinstack.core.compute.host_locations import HostLocations
from twinstack.core.compute.memory import MemoryHostStore
from twinstack.core.compute.model import ComputeHost
from twinstack.core.compute.stores import HostLocation


def host(name: str, cell: str = "cell1", zone: str = "nova") -> ComputeHost:
    return ComputeHost(host=name, agent="sim", cell=cell, availability_zone=zone, rack="r1", hypervisor_type="QEMU",
                       hypervisor_hostname=f"{name}.example", host_ip="10.0.0.1", traits=[], inventory={},
                       last_heartbeat=1.0)


class Counted(MemoryHostStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def locations(self) -> dict[str, HostLocation]:
        self.reads.append("all")
        return super().locations()

    def get(self, name: str) -> ComputeHost | None:
        self.reads.append(name)
        return super().get(name)


def test_hosts_are_read_once_for_many_placements_and_again_when_stale() -> None:
    store, now = Counted(), [0.0]
    store.upsert_all([host("a"), host("b", cell="cell2", zone="az2")])
    locations = HostLocations(store.locations, store.get, lambda: now[0], max_age=10.0)
    assert locations.of("a") == HostLocation("a.example", "cell1", "nova")
    assert locations.of("b") == HostLocation("b.example", "cell2", "az2")
    assert locations.of("a") == HostLocation("a.example", "cell1", "nova")
    assert store.reads == ["all"]

    store.upsert(host("a", cell="cell3"))  # registered again, through another conductor: seen once stale
    now[0] = 9.9
    assert locations.of("a") == HostLocation("a.example", "cell1", "nova")
    now[0] = 10.0
    assert locations.of("a") == HostLocation("a.example", "cell3", "nova")
    assert store.reads == ["all", "all"]

    again = host("a", cell="cell3", zone="az9")
    store.upsert(again)
    locations.learn([again])  # registered through this conductor: known at once, nothing read
    assert locations.of("a") == HostLocation("a.example", "cell3", "az9")
    assert store.reads == ["all", "all"]


def test_a_host_missing_from_the_copy_is_read_alone_and_kept() -> None:
    store = Counted()
    store.upsert(host("a"))
    locations = HostLocations(store.locations, store.get, lambda: 0.0, max_age=None)
    assert locations.of("a") is not None
    store.upsert(host("new"))  # its registration went to another conductor
    assert locations.of("new") == HostLocation("new.example", "cell1", "nova")
    assert locations.of("new") == HostLocation("new.example", "cell1", "nova")
    assert locations.of("nowhere") is None
    assert store.reads == ["all", "new", "nowhere"]
