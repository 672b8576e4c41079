"""An image's attributes as Glance classifies them: settable, read-only, reserved, or extra properties.

Writing a read-only or reserved attribute is refused with 403, as Glance does; everything not a
core attribute is an extra property, always a string.
"""

from __future__ import annotations

import uuid
from typing import Any

from twinstack.core.errors import BadRequest, Forbidden, OverQuota
from twinstack.core.image.formats import BOOT_PARTS

SETTABLE = ("name", "visibility", "protected", "os_hidden", "min_disk", "min_ram", "disk_format",
            "container_format", "owner", "tags")
READ_ONLY = frozenset({"status", "checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size", "created_at",
                       "updated_at", "direct_url", "self", "file", "schema", "stores"})
RESERVED = frozenset({"location", "deleted", "deleted_at"})
RESERVED_PREFIX = "os_glance"
VISIBILITIES = ("public", "private", "shared", "community")
MAX_TAGS = 128
MAX_PROPERTY_LENGTH = 255


def check_writable(name: str) -> None:
    if name in RESERVED or name.startswith(RESERVED_PREFIX):
        raise Forbidden(f"Attribute '{name}' is reserved.")
    if name in READ_ONLY:
        raise Forbidden(f"Attribute '{name}' is read-only.")


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"Invalid value for {name}: {value!r} is not a non-negative integer.")
    return value


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"Invalid value for {name}: {value!r} is not of type 'boolean'.")
    return value


def _text(name: str, value: Any, nullable: bool = True) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str) or len(value) > MAX_PROPERTY_LENGTH:
        raise BadRequest(f"Invalid value for {name}: {value!r} is not a string of at most "
                         f"{MAX_PROPERTY_LENGTH} characters.")
    return value


def tags(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) and 0 < len(t) <= 255 for t in value):
        raise BadRequest("Invalid value for tags: a list of strings of at most 255 characters is expected.")
    unique = list(dict.fromkeys(value))
    if len(unique) > MAX_TAGS:
        raise OverQuota(f"Maximum number of tags exceeded ({MAX_TAGS}).")
    return unique


def core_value(name: str, value: Any) -> Any:
    """``value`` checked and normalised for the settable core attribute ``name``."""
    if name in ("protected", "os_hidden"):
        return _boolean(name, value)
    if name in ("min_disk", "min_ram"):
        return _integer(name, value)
    if name == "visibility":
        if value not in VISIBILITIES:
            raise BadRequest(f"Invalid value '{value}' for visibility: expected one of {', '.join(VISIBILITIES)}.")
        return value
    if name == "tags":
        return tags(value)
    return _text(name, value)


def property_value(name: str, value: Any) -> str:
    """Extra properties are strings (Glance's schema says so); kernel/ramdisk ids must look like ids."""
    if not name or len(name) > MAX_PROPERTY_LENGTH:
        raise BadRequest(f"Invalid property name '{name}'.")
    if not isinstance(value, str):
        raise BadRequest(f"Invalid value for {name}: {value!r} is not of type 'string'.")
    if name in BOOT_PARTS:
        try:
            uuid.UUID(value)
        except ValueError:
            raise BadRequest(f"Invalid value for {name}: '{value}' is not an image id.") from None
    return value


def image_id(value: Any) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise BadRequest(f"Invalid value for id: '{value}' is not a UUID.") from None
