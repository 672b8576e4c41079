"""The image data path on SQLite and PostgreSQL: the status compare-and-set that lets one upload win,
upload, ranged download, and delete."""

from __future__ import annotations

import pytest

from tests.api.image_helpers import Glance, digests
from tests.conftest import Api
from tests.databases import on_each_database as cloud  # noqa: F401 - runs this module on both databases
from twinstack.core.clock import ManualClock, utcnow
from twinstack.core.errors import Conflict
from twinstack.core.image import data
from twinstack.core.policy import Credentials

DATA = b"0123456789" * 1000


def test_one_upload_wins_and_the_data_round_trips(api: Api) -> None:
    glance = Glance(api)
    image_id = glance.create(name="db")["id"]
    admin = Credentials(user_id="u", user_domain_id="default", roles=frozenset({"admin"}), project_id="p")
    with api.cloud.transaction() as session:
        data.begin_upload(session, admin, image_id, "saving", utcnow(api.cloud.clock))
    assert glance.upload(image_id, DATA).status_code == 409, "another upload holds the image"
    with api.cloud.transaction() as session:
        with pytest.raises(Conflict):
            data.begin_upload(session, admin, image_id, "saving", utcnow(api.cloud.clock))
        data.abandon(session, image_id, "saving", utcnow(api.cloud.clock))
    assert glance.upload(image_id, DATA).status_code == 204
    assert glance.show(image_id)["checksum"] == digests(DATA)[0]
    assert glance.request("GET", f"/v2/images/{image_id}/file", headers={"Range": "bytes=5-9"}).content == b"56789"
    assert glance.request("DELETE", f"/v2/images/{image_id}").status_code == 204
    assert glance.request("GET", f"/v2/images/{image_id}").status_code == 404


def test_time_comparison_filters_match_the_shown_second(api: Api, clock: ManualClock) -> None:
    """Stored times carry microseconds, shown ones do not: ``eq`` of a shown time finds its image and ``gt`` of it
    does not, on both databases."""
    glance = Glance(api)
    clock.advance(0.25)
    first = glance.create(name="first")
    clock.advance(2)
    second = glance.create(name="second")
    mine = {"first", "second"}
    assert set(glance.names(created_at=f"eq:{first['created_at']}")) & mine == {"first"}
    assert set(glance.names(created_at=f"gt:{first['created_at']}")) & mine == {"second"}
    assert set(glance.names(created_at=f"lte:{first['created_at']}")) & mine == {"first"}
    assert set(glance.names(updated_at=f"gte:{second['updated_at']}")) & mine == {"second"}
