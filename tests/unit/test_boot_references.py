"""What a create reads of its flavor, image and key pair (one Core statement each): every row a caller may see,
and none it may not, exactly as the ORM reads that the flavor and image APIs make (flavors.get_flavor,
images.get_image) decide it; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from twinstack.core.compute import flavors
from twinstack.core.compute.boot_references import read_flavor, read_image, read_key, read_references
from twinstack.core.errors import NotFound
from twinstack.core.image import images
from twinstack.core.policy import Credentials
from twinstack.db import migrate
from twinstack.db.models.compute import FlavorAccessRow, FlavorRow, KeypairRow
from twinstack.db.models.image import ImageMemberRow, ImageRow
from twinstack.db.session import SessionFactory, make_engine, make_session_factory

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CALLERS = {
    "admin": Credentials(user_id="a", user_domain_id="default", roles=frozenset({"admin"}), project_id="admins"),
    "owner": Credentials(user_id="o", user_domain_id="default", roles=frozenset({"member"}), project_id="mine"),
    "member": Credentials(user_id="m", user_domain_id="default", roles=frozenset({"member"}), project_id="friend"),
    "stranger": Credentials(user_id="s", user_domain_id="default", roles=frozenset({"member"}), project_id="other"),
    "unscoped": Credentials(user_id="u", user_domain_id="default", roles=frozenset({"member"})),
}
IMAGES = {  # id: (visibility, status, members)
    "public": ("public", "active", ()),
    "community": ("community", "active", ()),
    "private": ("private", "active", ()),
    "shared": ("shared", "active", ("friend",)),
    "shared-pending": ("shared", "queued", ("friend",)),
    "deleted": ("public", "deleted", ()),
}
FLAVORS = {  # flavorid: (is_public, disabled, projects given access)
    "open": (True, False, ()),
    "secret": (False, False, ("mine",)),
    "off": (True, True, ()),
    "secret-off": (False, True, ("mine",)),
}


@pytest.fixture
def sessions(database_url: str) -> Iterator[SessionFactory]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    made = make_session_factory(engine)
    with made() as session, session.begin():
        for image_id, (visibility, status, members) in IMAGES.items():
            session.add(ImageRow(id=image_id, name=image_id, status=status, visibility=visibility, owner="mine",
                                 disk_format="qcow2", container_format="bare", size=1024, min_disk=1, min_ram=64,
                                 properties={"os_type": "linux", "bdm_v2": True}, created_at=NOW, updated_at=NOW))
            session.flush()
            session.add_all([ImageMemberRow(image_id=image_id, member_id=m, created_at=NOW, updated_at=NOW)
                             for m in members])
        for flavorid, (public, disabled, projects) in FLAVORS.items():
            row = FlavorRow(flavorid=flavorid, name=flavorid, vcpus=2, memory_mb=1024, root_gb=10, ephemeral_gb=1,
                            swap=512, is_public=public, disabled=disabled, extra_specs={"hw:cpu_policy": "shared"},
                            created_at=NOW)
            session.add(row)
            session.flush()
            session.add_all([FlavorAccessRow(flavor_id=row.id, project_id=p) for p in projects])
        session.add(KeypairRow(name="k", user_id="o", fingerprint="f", public_key="ssh-ed25519 AAAA", created_at=NOW))
    yield made
    bind = made.kw["bind"]
    assert isinstance(bind, Engine)
    bind.dispose()


def _seen_by_orm_image(sessions: SessionFactory, creds: Credentials, image_id: str) -> bool:
    with sessions() as session:
        try:
            images.get_image(session, creds, image_id)
        except NotFound:
            return False
    return True


def _usable_by_orm_flavor(sessions: SessionFactory, creds: Credentials, flavorid: str) -> bool:
    with sessions() as session:
        try:
            return not flavors.get_flavor(session, creds, flavorid).disabled
        except NotFound:
            return False


def test_an_image_is_read_for_exactly_the_callers_glance_shows_it_to(sessions: SessionFactory) -> None:
    bind = sessions.kw["bind"]
    with bind.connect() as connection:
        seen = {(caller, image_id): read_image(connection, creds, image_id) is not None
                for (caller, creds), image_id in itertools.product(CALLERS.items(), [*IMAGES, "missing"])}
    assert seen == {(caller, image_id): _seen_by_orm_image(sessions, creds, image_id)
                    for (caller, creds), image_id in itertools.product(CALLERS.items(), [*IMAGES, "missing"])}
    assert {image_id for (caller, image_id), found in seen.items() if caller == "member" and found} == {
        "public", "community", "shared", "shared-pending"}
    assert {image_id for (caller, image_id), found in seen.items() if caller == "stranger" and found} == {
        "public", "community"}
    assert not any(found for (_caller, image_id), found in seen.items() if image_id in ("deleted", "missing"))


def test_a_flavor_is_read_for_exactly_the_callers_nova_lets_boot_it(sessions: SessionFactory) -> None:
    bind = sessions.kw["bind"]
    with bind.connect() as connection:
        usable = {(caller, flavorid): read_flavor(connection, creds, flavorid) is not None
                  for (caller, creds), flavorid in itertools.product(CALLERS.items(), [*FLAVORS, "missing"])}
    assert usable == {(caller, flavorid): _usable_by_orm_flavor(sessions, creds, flavorid)
                      for (caller, creds), flavorid in itertools.product(CALLERS.items(), [*FLAVORS, "missing"])}
    assert {flavorid for (caller, flavorid), found in usable.items() if found and caller == "owner"} == {
        "open", "secret"}
    assert {flavorid for (caller, flavorid), found in usable.items() if found and caller == "stranger"} == {"open"}


def test_what_is_read_is_what_a_server_records(sessions: SessionFactory) -> None:
    with sessions() as session:
        expected_image = images.image_spec(images.get_image(session, CALLERS["owner"], "private"))
        expected_flavor = flavors.flavor_spec(flavors.get_flavor(session, CALLERS["owner"], "secret"))
    with sessions.kw["bind"].connect() as connection:
        found = read_references(connection, CALLERS["owner"], "http://x/flavors/secret", "private", "k")
        assert read_key(connection, "o", "nokey") is None and read_key(connection, "m", "k") is None
    assert found.flavor == expected_flavor and found.flavor.extra_specs == {"hw:cpu_policy": "shared"}
    assert found.image is not None and found.image.spec() == expected_image
    assert found.image.properties == {"os_type": "linux", "bdm_v2": True}, "properties as stored, for image BDMs"
    assert found.key_data == "ssh-ed25519 AAAA"
