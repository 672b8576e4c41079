"""The admin's Placement commands, through the unmodified ``openstack`` CLI and osc-placement."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import OpenStackCLI

pytestmark = pytest.mark.slow


def create_provider(openstack: OpenStackCLI, name: str) -> dict[str, Any]:
    created: dict[str, Any] = openstack.json("resource", "provider", "create", name)
    return created


def test_resource_provider_create_list_show(openstack: OpenStackCLI) -> None:
    name = f"cn-{uuid.uuid4().hex[:8]}"
    created = create_provider(openstack, name)
    assert created["name"] == name and created["generation"] == 0
    listed = openstack.json("resource", "provider", "list", "--name", name)
    assert [rp["uuid"] for rp in listed] == [created["uuid"]]
    shown = openstack.json("resource", "provider", "show", created["uuid"], "--os-placement-api-version", "1.14")
    assert shown["root_provider_uuid"] == created["uuid"] and shown["parent_provider_uuid"] is None


def test_inventory_set_list_and_usage_show(openstack: OpenStackCLI) -> None:
    rp = create_provider(openstack, f"cn-{uuid.uuid4().hex[:8]}")
    openstack.json("resource", "provider", "inventory", "set", rp["uuid"], "--resource", "VCPU=8",
                   "--resource", "VCPU:allocation_ratio=4.0", "--resource", "MEMORY_MB=16384",
                   "--resource", "MEMORY_MB:reserved=512")
    inventory = {row["resource_class"]: row for row in
                 openstack.json("resource", "provider", "inventory", "list", rp["uuid"])}
    assert inventory["VCPU"]["total"] == 8 and inventory["VCPU"]["allocation_ratio"] == 4.0
    assert inventory["MEMORY_MB"]["reserved"] == 512 and inventory["MEMORY_MB"]["used"] == 0
    usage = openstack.json("resource", "provider", "usage", "show", rp["uuid"])
    assert {row["resource_class"]: row["usage"] for row in usage} == {"MEMORY_MB": 0, "VCPU": 0}


def test_allocation_candidate_list_and_allocation_set(openstack: OpenStackCLI) -> None:
    rp = create_provider(openstack, f"cn-{uuid.uuid4().hex[:8]}")
    openstack.json("resource", "provider", "inventory", "set", rp["uuid"], "--resource", "VCPU=4",
                   "--resource", "MEMORY_MB=2048")
    candidates = openstack.json("allocation", "candidate", "list", "--resource", "VCPU=1",
                                "--os-placement-api-version", "1.29")
    mine = [row for row in candidates if row["resource provider"] == rp["uuid"]]
    assert len(mine) == 1 and mine[0]["allocation"] == "VCPU=1"
    assert "VCPU=0/4" in mine[0]["inventory used/capacity"]
    consumer = str(uuid.uuid4())
    openstack.run("resource", "provider", "allocation", "set", consumer,
                  "--allocation", f"rp={rp['uuid']},VCPU=3,MEMORY_MB=1024",
                  "--project-id", str(uuid.uuid4()), "--user-id", str(uuid.uuid4()),
                  "--os-placement-api-version", "1.12")
    usage = openstack.json("resource", "provider", "usage", "show", rp["uuid"])
    assert {row["resource_class"]: row["usage"] for row in usage} == {"MEMORY_MB": 1024, "VCPU": 3}
    full = openstack.json("allocation", "candidate", "list", "--resource", "VCPU=2",
                          "--os-placement-api-version", "1.29")
    assert rp["uuid"] not in {row["resource provider"] for row in full}
    openstack.run("resource", "provider", "allocation", "delete", consumer)


def test_trait_list_and_provider_traits(openstack: OpenStackCLI) -> None:
    traits = {row["name"] for row in openstack.json("trait", "list", "--os-placement-api-version", "1.6")}
    assert {"COMPUTE_VOLUME_ATTACH", "HW_CPU_X86_AVX2", "STORAGE_DISK_SSD"} <= traits
    openstack.run("trait", "create", "CUSTOM_TWINSTACK", "--os-placement-api-version", "1.6")
    rp = create_provider(openstack, f"cn-{uuid.uuid4().hex[:8]}")
    openstack.run("resource", "provider", "trait", "set", rp["uuid"], "--trait", "CUSTOM_TWINSTACK",
                  "--trait", "HW_CPU_X86_AVX2", "--os-placement-api-version", "1.6")
    mine = openstack.json("resource", "provider", "trait", "list", rp["uuid"], "--os-placement-api-version", "1.6")
    assert sorted(row["name"] for row in mine) == ["CUSTOM_TWINSTACK", "HW_CPU_X86_AVX2"]


def test_errors_reach_the_admin_as_placement_words_them(openstack: OpenStackCLI) -> None:
    name = f"cn-{uuid.uuid4().hex[:8]}"
    create_provider(openstack, name)
    clash = openstack.run("resource", "provider", "create", name, check=False)
    assert clash.returncode != 0
    assert "Conflicting resource provider" in clash.stderr
