"""The back ends' capacity as they report it, through the pools API (``scheduler-stats/get_pools?detail=true``,
what ``openstack volume backend pool list --long`` shows): two thick 100 GiB ssd pools and one thin 500 GiB hdd
pool, reporting every half second. A thick pool loses what its volumes hold; a thin one what their guests wrote
(the simulation counts a quarter of each thin volume written)."""

# ruff: noqa: F811  (the fixtures imported from volume_fixtures are the tests' parameters)

from __future__ import annotations

from tests.api.volume_fixtures import cinder, conductor_settings, planes  # noqa: F401  (fixtures)
from tests.api.volume_helpers import Cinder, wait_until


def capacity(cinder: Cinder) -> dict[str, tuple[int, int]]:
    """Each pool's (total_capacity_gb, free_capacity_gb) as last reported."""
    return {name: (caps["total_capacity_gb"], caps["free_capacity_gb"]) for name, caps in cinder.pools().items()}


def test_the_pools_show_the_capacity_their_back_ends_report_and_free_drops_with_a_volume(cinder: Cinder) -> None:
    ssd0, ssd1, hdd = "twinstack@ssd#pool0", "twinstack@ssd#pool1", "twinstack@hdd#hdd"
    assert capacity(cinder) == {ssd0: (100, 100), ssd1: (100, 100), hdd: (500, 500)}
    listed = cinder.get("/scheduler-stats/get_pools").json()["pools"]
    assert listed == [{"name": hdd}, {"name": ssd0}, {"name": ssd1}], "without detail: names only"
    thick = cinder.wait_for(cinder.create(size=10, volume_type="ssd")["id"], "available")
    pool = thick["os-vol-host-attr:host"]
    other = ssd1 if pool == ssd0 else ssd0
    wait_until(lambda: capacity(cinder)[pool] == (100, 90), "the ssd pool's report did not drop by 10 GiB")
    assert capacity(cinder)[other] == (100, 100)
    thin = cinder.wait_for(cinder.create(size=8, volume_type="hdd")["id"], "available")
    assert thin["os-vol-host-attr:host"] == hdd
    wait_until(lambda: capacity(cinder)[hdd] == (500, 498), "the thin pool's report did not drop by what was written")
    details = cinder.pools()
    assert details[hdd]["allocated_capacity_gb"] == 8 and details[hdd]["thin_provisioning_support"] is True
    assert details[pool]["allocated_capacity_gb"] == 10 and details[pool]["thick_provisioning_support"] is True
    assert cinder.delete(f"/volumes/{thick['id']}").status_code == 202
    wait_until(lambda: capacity(cinder)[pool] == (100, 100), "the deleted volume's space did not come back")
