"""Flavors (with extra specs and access to private ones) and keypairs, over the compute API in-process.

None of these need a running compute plane: they are records the API keeps.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.api.compute_helpers import Member, Nova, make_member
from tests.conftest import Api
from twinstack.core.compute.flavors import DEFAULT_FLAVORS
from twinstack.setup_cloud import bootstrap

DETAIL_21 = {"id", "name", "ram", "disk", "swap", "OS-FLV-EXT-DATA:ephemeral", "OS-FLV-DISABLED:disabled", "vcpus",
             "os-flavor-access:is_public", "rxtx_factor", "links"}


@pytest.fixture
def nova(api: Api) -> Nova:
    return Nova(api)


@pytest.fixture
def alice(api: Api) -> Member:
    return make_member(api, "alice", "demo")


def create(nova: Nova, name: str, **flavor: object) -> dict[str, object]:
    response = nova.post("/flavors", json={"flavor": {"name": name, "ram": 1024, "vcpus": 2, "disk": 10, **flavor}})
    assert response.status_code == 200, response.text
    created: dict[str, object] = response.json()["flavor"]
    return created


# flavors

def test_the_usual_flavors_are_bootstrapped_once(api: Api, nova: Nova) -> None:
    bootstrap(api.cloud)
    flavors = nova.get("/flavors/detail").json()["flavors"]
    assert [(f["id"], f["name"], f["vcpus"], f["ram"], f["disk"]) for f in flavors] == [
        (f.flavorid, f.name, f.vcpus, f.ram, f.disk) for f in DEFAULT_FLAVORS]
    assert [f["name"] for f in flavors][:2] == ["m1.tiny", "m1.small"]


def test_fields_follow_the_microversion(nova: Nova) -> None:
    tiny = nova.get("/flavors/1").json()["flavor"]
    assert set(tiny) == DETAIL_21 and tiny["swap"] == "" and tiny["rxtx_factor"] == 1.0
    assert tiny["links"][0]["href"].endswith("/compute/v2.1/flavors/1")
    assert set(nova.get("/flavors").json()["flavors"][0]) == {"id", "name", "links"}
    assert nova.at("2.55").get("/flavors/1").json()["flavor"]["description"] is None
    assert set(nova.at("2.55").get("/flavors").json()["flavors"][0]) == {"id", "name", "links", "description"}
    latest = nova.at("2.75").get("/flavors/1").json()["flavor"]
    assert latest["swap"] == 0 and latest["extra_specs"] == {}


def test_filters_sorting_and_pages(nova: Nova) -> None:
    names = [f["name"] for f in nova.get("/flavors/detail", params={"minRam": 4096}).json()["flavors"]]
    assert names == ["m1.medium", "m1.large", "m1.xlarge"]
    assert [f["name"] for f in nova.get("/flavors", params={"minDisk": 80}).json()["flavors"]] == [
        "m1.large", "m1.xlarge"]
    by_ram = nova.get("/flavors", params={"sort_key": "memory_mb", "sort_dir": "desc"}).json()["flavors"]
    assert by_ram[0]["name"] == "m1.xlarge"
    page = nova.get("/flavors", params={"limit": 2}).json()
    assert [f["id"] for f in page["flavors"]] == ["1", "2"] and "marker=2" in page["flavors_links"][0]["href"]
    assert [f["id"] for f in nova.get("/flavors", params={"marker": "4"}).json()["flavors"]] == ["5"]
    assert nova.get("/flavors", params={"marker": "nope"}).status_code == 400
    assert nova.get("/flavors", params={"minRam": "lots"}).status_code == 400
    assert nova.get("/flavors", params={"sort_key": "colour"}).status_code == 400


def test_create_refuses_duplicates_members_and_bad_input(nova: Nova, alice: Member) -> None:
    made = create(nova, "c1.big", id="big-1", swap=512, rxtx_factor=2.0, **{"OS-FLV-EXT-DATA:ephemeral": 5})
    assert made["id"] == "big-1" and made["swap"] == 512 and made["OS-FLV-EXT-DATA:ephemeral"] == 5
    auto = create(nova, "c1.auto")
    assert len(str(auto["id"])) == 36, "no id given: a UUID"
    again = nova.post("/flavors", json={"flavor": {"name": "c1.big", "ram": 1, "vcpus": 1, "disk": 1}})
    assert again.status_code == 409 and again.json()["conflictingRequest"]["message"] == (
        "Flavor with name c1.big already exists.")
    assert nova.post("/flavors", json={"flavor": {"name": "c1.x", "id": "big-1", "ram": 1, "vcpus": 1,
                                                  "disk": 1}}).status_code == 409
    member = nova.as_user(alice.token)
    assert member.post("/flavors", json={"flavor": {"name": "mine", "ram": 1, "vcpus": 1, "disk": 1}}
                       ).status_code == 403
    for bad in ({"name": "x", "ram": 0, "vcpus": 1, "disk": 1}, {"name": "x", "vcpus": 1, "disk": 1},
                {"name": "x", "ram": 1, "vcpus": 1, "disk": 1, "colour": "red"},
                {"name": "x", "ram": 1, "vcpus": 1, "disk": 1, "description": "too early"}):
        assert nova.post("/flavors", json={"flavor": bad}).status_code == 400, bad
    described = nova.at("2.55").post("/flavors", json={"flavor": {"name": "c1.d", "ram": 1, "vcpus": 1, "disk": 1,
                                                                  "description": "doc"}})
    assert described.json()["flavor"]["description"] == "doc"


def test_update_description_and_delete(nova: Nova) -> None:
    made = create(nova, "c1.tmp", id="tmp")
    assert nova.put("/flavors/tmp", json={"flavor": {"description": "x"}}).status_code == 404, "only from 2.55"
    updated = nova.at("2.55").put("/flavors/tmp", json={"flavor": {"description": "x"}})
    assert updated.status_code == 200 and updated.json()["flavor"]["description"] == "x"
    assert nova.delete(f"/flavors/{made['id']}").status_code == 202
    assert nova.get("/flavors/tmp").json() == {"itemNotFound": {"code": 404,
                                                                "message": "Flavor tmp could not be found."}}
    assert nova.delete("/flavors/tmp").status_code == 404


def test_extra_specs(nova: Nova, alice: Member) -> None:
    specs = "/flavors/1/os-extra_specs"
    assert nova.post(specs, json={"extra_specs": {"hw:cpu_policy": "dedicated", "quota:cpu_shares": 512}}
                     ).json() == {"extra_specs": {"hw:cpu_policy": "dedicated", "quota:cpu_shares": "512"}}
    assert nova.get(specs).json() == {"extra_specs": {"hw:cpu_policy": "dedicated", "quota:cpu_shares": "512"}}
    assert nova.get(f"{specs}/hw:cpu_policy").json() == {"hw:cpu_policy": "dedicated"}
    assert nova.put(f"{specs}/hw:cpu_policy", json={"hw:cpu_policy": "shared"}).json() == {"hw:cpu_policy": "shared"}
    assert nova.put(f"{specs}/hw:cpu_policy", json={"other": "x"}).status_code == 400
    assert nova.delete(f"{specs}/quota:cpu_shares").status_code == 202
    assert nova.get(f"{specs}/quota:cpu_shares").status_code == 404
    assert nova.at("2.61").get("/flavors/1").json()["flavor"]["extra_specs"] == {"hw:cpu_policy": "shared"}
    member = nova.as_user(alice.token)
    assert member.get(specs).status_code == 200
    assert member.post(specs, json={"extra_specs": {"a": "b"}}).status_code == 403


def test_private_flavors_are_for_the_projects_given_access(nova: Nova, alice: Member) -> None:
    create(nova, "p1.secret", id="secret", **{"os-flavor-access:is_public": False})
    member = nova.as_user(alice.token)
    assert member.get("/flavors/secret").status_code == 404
    assert "secret" not in [f["id"] for f in member.get("/flavors").json()["flavors"]]
    assert "secret" not in [f["id"] for f in nova.get("/flavors").json()["flavors"]], "admin: public by default"
    assert "secret" in [f["id"] for f in nova.get("/flavors", params={"is_public": "None"}).json()["flavors"]]
    assert [f["id"] for f in nova.get("/flavors", params={"is_public": "false"}).json()["flavors"]] == ["secret"]
    added = nova.post("/flavors/secret/action", json={"addTenantAccess": {"tenant": alice.project_id}})
    assert added.json() == {"flavor_access": [{"flavor_id": "secret", "tenant_id": alice.project_id}]}
    assert nova.post("/flavors/secret/action", json={"addTenantAccess": {"tenant": alice.project_id}}
                     ).status_code == 409
    assert member.get("/flavors/secret").status_code == 200
    assert "secret" in [f["id"] for f in member.get("/flavors/detail").json()["flavors"]]
    assert nova.get("/flavors/secret/os-flavor-access").json()["flavor_access"][0]["tenant_id"] == alice.project_id
    assert member.get("/flavors/secret/os-flavor-access").status_code == 403
    removed = nova.post("/flavors/secret/action", json={"removeTenantAccess": {"tenant": alice.project_id}})
    assert removed.json() == {"flavor_access": []}
    assert member.get("/flavors/secret").status_code == 404
    assert nova.post("/flavors/1/action", json={"addTenantAccess": {"tenant": "p"}}).status_code == 409
    assert nova.get("/flavors/1/os-flavor-access").status_code == 404
    assert nova.post("/flavors/secret/action", json={"dance": {}}).status_code == 400


# keypairs

def ssh_public_key() -> tuple[str, str]:
    """A fresh OpenSSH public key and its MD5 fingerprint computed independently."""
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    text = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    digest = hashlib.md5(base64.b64decode(text.split()[1])).hexdigest()
    return text + " me@laptop", ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def test_import_a_key_and_read_it_back(nova: Nova) -> None:
    public, fingerprint = ssh_public_key()
    response = nova.at("2.2").post("/os-keypairs", json={"keypair": {"name": "laptop", "public_key": public}})
    assert response.status_code == 201
    created = response.json()["keypair"]
    assert created["fingerprint"] == fingerprint and created["type"] == "ssh" and "private_key" not in created
    listed = nova.at("2.2").get("/os-keypairs").json()["keypairs"]
    assert listed == [{"keypair": {"name": "laptop", "public_key": public, "fingerprint": fingerprint,
                                   "type": "ssh"}}]
    shown = nova.get("/os-keypairs/laptop").json()["keypair"]
    assert shown["user_id"] and shown["deleted"] is False and shown["created_at"] and "type" not in shown
    assert nova.get("/os-keypairs").json()["keypairs"][0]["keypair"].keys() == {"name", "public_key", "fingerprint"}


def test_generate_returns_the_private_key_once(nova: Nova) -> None:
    response = nova.post("/os-keypairs", json={"keypair": {"name": "gen"}})
    assert response.status_code == 200, "200 at 2.1"
    created = response.json()["keypair"]
    private = serialization.load_ssh_private_key(created["private_key"].encode(), password=None)
    derived = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    assert created["public_key"].startswith(derived.decode())
    assert "private_key" not in nova.get("/os-keypairs/gen").json()["keypair"]
    cert = nova.at("2.2").post("/os-keypairs", json={"keypair": {"name": "cert", "type": "x509"}}).json()
    assert cert["keypair"]["type"] == "x509" and "BEGIN CERTIFICATE" in cert["keypair"]["public_key"]
    assert len(cert["keypair"]["fingerprint"].split(":")) == 20


def test_keypair_refusals(nova: Nova) -> None:
    public, _ = ssh_public_key()
    nova.post("/os-keypairs", json={"keypair": {"name": "k", "public_key": public}})
    dup = nova.post("/os-keypairs", json={"keypair": {"name": "k", "public_key": public}})
    assert dup.status_code == 409 and dup.json()["conflictingRequest"]["message"] == "Key pair 'k' already exists."
    assert nova.post("/os-keypairs", json={"keypair": {"name": "bad", "public_key": "ssh-rsa nonsense"}}
                     ).status_code == 400
    assert nova.post("/os-keypairs", json={"keypair": {"name": "bad/name"}}).status_code == 400
    assert nova.post("/os-keypairs", json={"keypair": {"name": "t", "type": "ssh"}}).status_code == 400, \
        "type only from 2.2"
    assert nova.get("/os-keypairs/nope").status_code == 404


def test_keypairs_belong_to_their_user(nova: Nova, alice: Member) -> None:
    member = nova.as_user(alice.token).at("2.10")
    assert member.post("/os-keypairs", json={"keypair": {"name": "mine"}}).status_code == 201
    assert nova.get("/os-keypairs").json()["keypairs"] == []
    assert [k["keypair"]["name"] for k in nova.at("2.10").get(
        "/os-keypairs", params={"user_id": alice.user_id}).json()["keypairs"]] == ["mine"]
    assert member.get("/os-keypairs", params={"user_id": "someone-else"}).status_code == 403
    assert nova.at("2.10").post("/os-keypairs", json={"keypair": {"name": "given", "user_id": alice.user_id}}
                                ).status_code == 201
    assert sorted(k["keypair"]["name"] for k in member.get("/os-keypairs").json()["keypairs"]) == ["given", "mine"]
    page = member.at("2.35").get("/os-keypairs", params={"limit": 1}).json()
    assert [k["keypair"]["name"] for k in page["keypairs"]] == ["given"] and page["keypairs_links"]
    assert member.delete("/os-keypairs/mine").status_code == 204
    assert nova.delete("/os-keypairs/given").status_code == 404, "the admin's own keypairs, unless user_id"
    assert nova.at("2.10").delete("/os-keypairs/given", params={"user_id": alice.user_id}).status_code == 204


def test_a_server_carries_its_keypair(api: Api, nova: Nova) -> None:
    from tests.api.compute_helpers import running_plane

    for plane in running_plane(api.cloud):
        public, _ = ssh_public_key()
        nova.post("/os-keypairs", json={"keypair": {"name": "k", "public_key": public}})
        server_id = nova.boot("vm", key_name="k")["id"]
        assert nova.wait_for(server_id, "ACTIVE")["key_name"] == "k"
        instance = plane.instances.get(server_id)
        assert instance is not None and instance.key_data == public
