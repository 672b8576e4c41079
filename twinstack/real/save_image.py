"""Give a libvirt save image (``virDomainSave``) another domain definition: another name, UUID and file paths.

Why: a live migration between two agents sharing this machine's libvirtd (twinstack.real.live_migration) moves
the guest's running state as a save image, and the destination restores it as a domain of its own, named with
its own prefix and a UUID of its own (one libvirtd holds each name and UUID once, and the source's copy is still
defined while the state travels). libvirt's own ways to edit the definition inside an image
(``virDomainRestoreFlags`` with an XML, ``virDomainSaveImageDefineXML``) refuse exactly that: its ABI check
insists a saved domain comes back as itself ("Target domain name ... does not match source"), which is right
between two libvirtds, where a migrated domain keeps its name and UUID, and wrong for two hosts on one libvirtd.

So this rewrites the definition the way ``virDomainSaveImageDefineXML`` does, in place, without the identity
check. The image (libvirt's QEMU driver, format version 2, unchanged since libvirt 0.9) is a 92-byte header
(16 bytes of magic, then 19 little-endian uint32: version, data_len, was_running, format, cookie_offset and 14
unused), then ``data_len`` bytes holding the domain XML and a cookie (each NUL-terminated, the cookie at
``cookie_offset``) padded with NULs (libvirt leaves room for such edits), then QEMU's migration stream: the
guest's memory and device state, which stays untouched. The XML goes where it was; the cookie follows it; the
stream does not move, so the edit costs a few kilobytes of writing whatever the guest's memory size.

Anything other than that layout (another magic, another version, an XML too large for its room) raises
:class:`SaveImageError` before a byte is written.
"""

from __future__ import annotations

import struct
from pathlib import Path

MAGIC = b"LibvirtQemudSave"
VERSION = 2
FIELDS = struct.Struct("<19I")
HEADER_SIZE = len(MAGIC) + FIELDS.size
DATA_LEN, COOKIE_OFFSET = 1, 4
"""Indexes of data_len and cookie_offset among the header's 19 fields."""


class SaveImageError(Exception):
    """The file is not a save image this module knows how to edit."""


def _read(path: Path) -> tuple[list[int], bytes]:
    with path.open("rb") as file:
        header = file.read(HEADER_SIZE)
        if len(header) < HEADER_SIZE or header[:len(MAGIC)] != MAGIC:
            raise SaveImageError(f"{path} is not a complete libvirt save image")
        fields = list(FIELDS.unpack(header[len(MAGIC):]))
        if fields[0] != VERSION:
            raise SaveImageError(f"{path} is a save image of version {fields[0]}; only {VERSION} is understood")
        data = file.read(fields[DATA_LEN])
    if len(data) != fields[DATA_LEN]:
        raise SaveImageError(f"{path} ends inside its header data")
    return fields, data


def _until_nul(data: bytes, start: int) -> bytes:
    end = data.find(b"\0", start)
    return data[start:] if end < 0 else data[start:end]


def domain_xml(path: Path) -> str:
    """The domain definition the image restores as."""
    _fields, data = _read(path)
    return _until_nul(data, 0).decode()


def header(path: Path) -> bytes:
    """The image's header and definition, as they are (to put back with :func:`put_back`)."""
    fields, _data = _read(path)
    with path.open("rb") as file:
        return file.read(HEADER_SIZE + fields[DATA_LEN])


def put_back(path: Path, saved: bytes) -> None:
    """Write back what :func:`header` read (an edit undone); the migration stream after it is untouched."""
    with path.open("r+b") as file:
        file.write(saved)


def rewrite(path: Path, xml: str) -> None:
    """Make the image restore as ``xml`` (the same guest: devices and their order must match what was saved)."""
    fields, data = _read(path)
    cookie = _until_nul(data, fields[COOKIE_OFFSET]) if fields[COOKIE_OFFSET] else b""
    new = xml.encode() + b"\0"
    cookie_offset = len(new) if fields[COOKIE_OFFSET] else 0
    if fields[COOKIE_OFFSET]:
        new += cookie + b"\0"
    if len(new) > fields[DATA_LEN]:
        raise SaveImageError(f"the new definition ({len(new)} bytes) does not fit the {fields[DATA_LEN]} bytes "
                             f"{path} keeps for it")
    fields[COOKIE_OFFSET] = cookie_offset
    with path.open("r+b") as file:
        file.seek(len(MAGIC))
        file.write(FIELDS.pack(*fields))
        file.write(new.ljust(fields[DATA_LEN], b"\0"))
