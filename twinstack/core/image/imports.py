"""Interoperable image import: ``glance-direct`` (stage, then import), ``web-download`` (fetch a URL)
and ``copy-image`` (an active image into more stores, see :mod:`copies`).

``begin_import`` checks the request and moves the image to ``importing`` (answered 202 at once);
``run_import`` then brings the data into every requested store, verified as an upload is, and
makes the image ``active``. A failed import leaves the image ``queued`` with the stores it failed
for in ``os_glance_failed_import`` and the reason in its task, and never leaves data behind.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Conflict, Forbidden
from twinstack.core.image import copies, data
from twinstack.core.image.context import ImageConfig
from twinstack.core.image.images import get_image
from twinstack.core.image.intake import Expected, receive
from twinstack.core.image.stores import CHUNK, HTTP_TIMEOUT
from twinstack.core.image.writes import modifiable
from twinstack.core.policy import Credentials
from twinstack.db.models.image import ImageRow, ImageTaskRow

TASK_TYPE = "api_image_import"
Transaction = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class ImportRequest:
    method: str
    uri: str | None
    stores: tuple[str, ...]


def parse_import(config: ImageConfig, body: Any) -> ImportRequest:
    method = body.get("method") if isinstance(body, dict) else None
    if not isinstance(method, dict) or not isinstance(method.get("name"), str):
        raise BadRequest("Import request requires a 'method' object with a 'name'.")
    name = method["name"]
    if name not in config.settings.import_methods:
        raise BadRequest(f"Unknown import method name '{name}'.")
    uri = method.get("uri")
    if name == "web-download" and (not isinstance(uri, str) or urlparse(uri).scheme not in ("http", "https")
                                   or not urlparse(uri).netloc):
        raise BadRequest("URI for web-download must be an http or https URL.")
    stores: list[str] = body.get("stores") or []
    if name == copies.METHOD and not (stores or body.get("all_stores")):
        raise BadRequest("copy-image needs 'stores' or 'all_stores'.")
    if body.get("all_stores"):
        if stores:
            raise BadRequest("all_stores is mutually exclusive with stores.")
        stores = list(config.stores.stores)
    if not isinstance(stores, list) or not all(isinstance(s, str) for s in stores):
        raise BadRequest("stores must be a list of store ids.")
    for store in stores:
        config.stores.get(store)
    return ImportRequest(name, uri if name == "web-download" else None,
                         tuple(dict.fromkeys(stores)) or (config.stores.default,))


def begin_import(session: Session, creds: Credentials, image_id: str, request: ImportRequest,
                 now: dt.datetime) -> str:
    """Check the image is ready for this method, mark it ``importing`` and record the task; its id."""
    row = modifiable(session, creds, image_id)
    if request.method == copies.METHOD:
        return _begin_copy(session, creds, row, request, now)
    needed = "uploading" if request.method == "glance-direct" else "queued"
    if row.status != needed:
        if request.method == "glance-direct":
            raise Conflict("Image needs to be staged before 'glance-direct' method can be used")
        raise Conflict(f"Image status is {row.status}: web-download needs a queued image.")
    if not (row.disk_format and row.container_format):
        raise BadRequest("Properties disk_format, container_format must be set prior to importing data.")
    if not data.move_status(session, image_id, needed, "importing", now):
        raise Conflict(f"Image {image_id} is already being imported.")
    return _record_task(session, creds, image_id, request, list(request.stores), now)


def _record_task(session: Session, creds: Credentials, image_id: str, request: ImportRequest, stores: list[str],
                 now: dt.datetime) -> str:
    task = ImageTaskRow(id=str(uuid.uuid4()), image_id=image_id, type=TASK_TYPE, status="pending",
                        owner=creds.project_id, input={"method": request.method, "uri": request.uri, "stores": stores},
                        message="", created_at=now, updated_at=now)
    session.add(task)
    session.flush()
    return task.id


def _begin_copy(session: Session, creds: Credentials, row: ImageRow, request: ImportRequest,
                now: dt.datetime) -> str:
    """Only admins copy (Glance's default); stores that already hold the image are skipped."""
    if not creds.is_admin:
        raise Forbidden("You are not authorized to copy an image into other stores.")
    if row.status != "active":
        raise Conflict(f"Image status is {row.status}: copy-image needs an active image.")
    holding = {loc.get("metadata", {}).get("store") for loc in row.locations}
    return _record_task(session, creds, row.id, request, [s for s in request.stores if s not in holding], now)


def _staged_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


def _copy_into(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _finish_task(transaction: Transaction, task_id: str, status: str, message: str, now: dt.datetime) -> None:
    with transaction() as session:
        task = session.get(ImageTaskRow, task_id)
        if task is not None:
            task.status, task.message, task.updated_at = status, message[:1024], now


def run_import(transaction: Transaction, config: ImageConfig, task_id: str, now: Callable[[], dt.datetime]) -> None:
    """Do the import a task asked for; every outcome is recorded, none raises."""
    with transaction() as session:
        task = session.get(ImageTaskRow, task_id)
        row = None if task is None else session.get(ImageRow, task.image_id)
        if task is None or row is None:
            return
        image_id, ask = row.id, dict(task.input)
        expected = Expected.from_properties(row.properties)
        task.status, task.updated_at = "processing", now()
    if ask["method"] == copies.METHOD:
        failed = copies.run_copy(transaction, config, image_id, list(ask["stores"]), now)
        _finish_task(transaction, task_id, "failure" if failed else "success",
                     f"Copy failed for stores: {', '.join(failed)}" if failed else "", now())
        return
    stores = [config.stores.get(name) for name in ask["stores"]]
    staged = config.stores.staged(image_id)
    written: list[Path] = []
    try:
        target = stores[0].path_for(image_id)
        cap = config.settings.image_size_cap
        if ask["method"] == "glance-direct":
            received = receive(_staged_chunks(staged), target, cap, expected)
        else:
            with httpx.stream("GET", ask["uri"], timeout=HTTP_TIMEOUT, follow_redirects=True) as answer:
                answer.raise_for_status()
                received = receive(answer.iter_bytes(CHUNK), target, cap, expected)
        written.append(target)
        for store in stores[1:]:
            _copy_into(target, store.path_for(image_id))
            written.append(store.path_for(image_id))
        with transaction() as session:
            done = data.activate(session, image_id, "importing", received,
                                 [store.location(image_id) for store in stores], now())
        if not done:
            raise Conflict(f"Image {image_id} left 'importing' during the import.")
    except Exception as exc:  # an import's failure is its task's result, not a crash
        for path in written:
            path.unlink(missing_ok=True)
        with transaction() as session:
            data.abandon(session, image_id, "importing", now())
            row = session.get(ImageRow, image_id)
            if row is not None and row.status == "queued":
                row.properties = {**row.properties, "os_glance_failed_import": ",".join(ask["stores"])}
        _finish_task(transaction, task_id, "failure", f"{type(exc).__name__}: {exc}", now())
        return
    finally:
        staged.unlink(missing_ok=True)
    _finish_task(transaction, task_id, "success", "", now())


def list_tasks(session: Session, creds: Credentials, image_id: str) -> list[ImageTaskRow]:
    get_image(session, creds, image_id)
    return list(session.scalars(select(ImageTaskRow).where(ImageTaskRow.image_id == image_id)
                                .order_by(ImageTaskRow.created_at)))
