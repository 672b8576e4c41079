"""Image stores: the directories image data is kept in, and turning a location URL back into bytes.

A store is Glance's ``file`` back end: one directory, one file per image named by the image id.
Several stores may be configured (Glance's multi-store), one of them the default. A location is
``{"url": ..., "metadata": {"store": <id>}}``; ``file://`` URLs are only ever served when they
fall inside a configured store (a user-added location may not point at /etc/shadow), and
``http(s)://`` URLs are read as Glance's read-only http store reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from twinstack.config import ImageSettings
from twinstack.core.errors import BadRequest

CHUNK = 64 * 1024
HTTP_TIMEOUT = 30.0


@dataclass(frozen=True)
class FileStore:
    """One directory of image files."""

    name: str
    root: Path
    description: str = ""

    def path_for(self, image_id: str) -> Path:
        return self.root / image_id

    def url_for(self, image_id: str) -> str:
        return self.path_for(image_id).resolve().as_uri()

    def location(self, image_id: str) -> dict[str, object]:
        return {"url": self.url_for(image_id), "metadata": {"store": self.name}}

    def holds(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.root.resolve())


@dataclass(frozen=True)
class StoreSet:
    """The configured stores, the default one, and where glance-direct stages data."""

    stores: dict[str, FileStore]
    default: str
    staging: Path

    def get(self, name: str | None) -> FileStore:
        """The store named ``name`` (the default when None); an unknown name is the client's mistake."""
        chosen = self.default if name is None else name
        store = self.stores.get(chosen)
        if store is None:
            raise BadRequest(f"Unknown store '{chosen}'; known stores are {', '.join(sorted(self.stores))}.")
        return store

    def staged(self, image_id: str) -> Path:
        return self.staging / image_id

    def local_path(self, url: str) -> Path | None:
        """The file behind a ``file://`` URL when it lies inside one of our stores, else None."""
        parsed = urlparse(url)
        if parsed.scheme != "file":
            return None
        path = Path(unquote(parsed.path))
        return path if any(store.holds(path) for store in self.stores.values()) else None

    def store_of(self, url: str) -> str | None:
        path = self.local_path(url)
        if path is None:
            return None
        return next((s.name for s in self.stores.values() if s.holds(path)), None)

    def check_location(self, url: str) -> int | None:
        """Validate a location a client adds, as Glance asks its store for the size; returns that size.

        ``file://`` must be inside a store and exist; ``http(s)://`` must answer a HEAD with 2xx.
        """
        scheme = urlparse(url).scheme
        if scheme == "file":
            path = self.local_path(url)
            if path is None or not path.is_file():
                raise BadRequest(f"Invalid location: {url}")
            return path.stat().st_size
        if scheme in ("http", "https"):
            try:
                answer = httpx.head(url, timeout=HTTP_TIMEOUT, follow_redirects=True)
            except httpx.HTTPError:
                raise BadRequest(f"Invalid location: {url}") from None
            if not answer.is_success:
                raise BadRequest(f"Invalid location: {url}")
            length = answer.headers.get("content-length")
            return int(length) if length and length.isdigit() else None
        raise BadRequest(f"Invalid location: {url}: unknown scheme '{scheme}'")

    def is_live(self, url: str) -> bool:
        """Whether the data behind a location can be read now (a dead location is skipped on download)."""
        path = self.local_path(url)
        if path is not None:
            return path.is_file()
        if urlparse(url).scheme in ("http", "https"):
            try:
                return httpx.head(url, timeout=HTTP_TIMEOUT, follow_redirects=True).is_success
            except httpx.HTTPError:
                return False
        return False

    def read(self, url: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive; None = to the end) of a location, in chunks, never all at once."""
        path = self.local_path(url)
        if path is not None:
            return _read_file(path, start, end)
        return _read_http(url, start, end)


def _read_file(path: Path, start: int, end: int | None) -> Iterator[bytes]:
    with path.open("rb") as source:
        source.seek(start)
        left = None if end is None else end - start
        while left is None or left > 0:
            chunk = source.read(CHUNK if left is None else min(CHUNK, left))
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk


def _read_http(url: str, start: int, end: int | None) -> Iterator[bytes]:
    """Read a web location, skipping to ``start`` ourselves: not every web server honours Range."""
    position = 0
    with httpx.stream("GET", url, timeout=HTTP_TIMEOUT, follow_redirects=True) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_bytes(CHUNK):
            chunk_end = position + len(chunk)
            low, high = max(start, position), chunk_end if end is None else min(end, chunk_end)
            if high > low:
                yield chunk[low - position:high - position]
            position = chunk_end
            if end is not None and position >= end:
                return


def store_set(settings: ImageSettings, data_dir: Path) -> StoreSet:
    """The stores the settings describe; file stores default to ``<data_dir>/images/<name>``."""
    stores: dict[str, FileStore] = {}
    for entry in settings.stores:
        if entry.kind != "file":
            raise ValueError(f"image store {entry.name}: unknown kind {entry.kind!r} (only 'file' exists)")
        root = entry.path or data_dir / "images" / entry.name
        stores[entry.name] = FileStore(entry.name, root, entry.description)
    if not stores:
        raise ValueError("at least one image store must be configured")
    default = settings.default_store or settings.stores[0].name
    if default not in stores:
        raise ValueError(f"default image store {default!r} is not one of the configured stores")
    staging = settings.staging_path or data_dir / "images" / "staging"
    return StoreSet(stores, default, staging)
