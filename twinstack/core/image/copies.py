"""The ``copy-image`` import method: an active image's data copied into more stores.

The image stays usable (``active``) throughout. Each copy is read from a live location and
verified against the image's md5 ``checksum`` before it becomes a new location; a store that
fails is named in ``os_glance_failed_import`` and keeps no partial file. If the image is deleted
meanwhile, the copies are removed instead of recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy.orm import Session

from twinstack.core.errors import Conflict
from twinstack.core.image.context import ImageConfig
from twinstack.core.image.intake import Expected, receive
from twinstack.db.models.image import ImageRow

METHOD = "copy-image"
Transaction = Callable[[], AbstractContextManager[Session]]


def _source(config: ImageConfig, locations: list[dict[str, Any]]) -> Iterator[bytes]:
    for location in locations:
        url = str(location["url"])
        if config.stores.is_live(url):
            return config.stores.read(url)
    raise Conflict("The image has no live location to copy from.")


def run_copy(transaction: Transaction, config: ImageConfig, image_id: str, store_names: list[str],
             now: Callable[[], dt.datetime]) -> list[str]:
    """Copy into each store; the names of the stores that failed (empty when all succeeded)."""
    with transaction() as session:
        row = session.get(ImageRow, image_id)
        if row is None or row.status not in ("active", "deactivated"):
            return list(store_names)
        locations = [dict(loc) for loc in row.locations]
        expected = Expected(size=row.size, md5=row.checksum)
    failed: list[str] = []
    added: list[dict[str, Any]] = []
    for name in store_names:
        store = config.stores.get(name)
        try:
            receive(_source(config, locations), store.path_for(image_id), config.settings.image_size_cap, expected)
            added.append(store.location(image_id))
        except Exception:  # a store that fails is reported, the others still get their copy
            failed.append(name)
    with transaction() as session:
        row = session.get(ImageRow, image_id, with_for_update=True)
        if row is None or row.status not in ("active", "deactivated"):
            for location in added:
                path = config.stores.local_path(str(location["url"]))
                if path is not None:
                    path.unlink(missing_ok=True)
            return list(store_names)
        known = {loc["url"] for loc in row.locations}
        row.locations = [*row.locations, *(loc for loc in added if loc["url"] not in known)]
        properties = {k: v for k, v in row.properties.items() if k != "os_glance_failed_import"}
        if failed:
            properties["os_glance_failed_import"] = ",".join(failed)
        row.properties, row.updated_at = properties, now()
    return failed
