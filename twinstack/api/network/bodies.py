"""Reading Neutron request bodies: ``{"<resource>": {...}}`` checked against an attribute map.

Each resource declares its attributes as Neutron's RESOURCE_ATTRIBUTE_MAP does: how a value is
converted and validated, whether it may be given on create (POST) and on update (PUT), and whether
only admins may set it. Anything else is refused with Neutron's 400 wording ("Unrecognized
attribute(s)", "Cannot update read-only attribute"), never FastAPI's 422.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from twinstack.core.errors import BadRequest, Forbidden
from twinstack.core.policy import Credentials

Converter = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Attr:
    convert: Converter
    post: bool = True
    put: bool = True
    admin_only: bool = False
    required: bool = False


def invalid(name: str, reason: str) -> BadRequest:
    return BadRequest(f"Invalid input for {name}. Reason: {reason}.")


def string(max_length: int = 255) -> Converter:
    def convert(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise invalid(name, f"'{value}' is not a valid string")
        if len(value) > max_length:
            raise invalid(name, f"'{value}' exceeds maximum length of {max_length}")
        return value
    return convert


def nullable(inner: Converter) -> Converter:
    def convert(name: str, value: Any) -> Any:
        return None if value is None else inner(name, value)
    return convert


def boolean(name: str, value: Any) -> bool:
    """Neutron's convert_to_boolean: true/false in any case, 0/1, as JSON or as strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
    raise invalid(name, f"'{value}' cannot be converted to boolean")


def integer(minimum: int | None = None, maximum: int | None = None) -> Converter:
    def convert(name: str, value: Any) -> int:
        if isinstance(value, bool):
            raise invalid(name, f"'{value}' is not an integer")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise invalid(name, f"'{value}' is not an integer") from None
        if minimum is not None and number < minimum:
            raise invalid(name, f"'{number}' is too small - must be at least '{minimum}'")
        if maximum is not None and number > maximum:
            raise invalid(name, f"'{number}' is too large - must be no larger than '{maximum}'")
        return number
    return convert


def one_of(*choices: Any) -> Converter:
    def convert(name: str, value: Any) -> Any:
        if value not in choices:
            raise invalid(name, f"{value} is not in {list(choices)}")
        return value
    return convert


def list_of(item: Converter) -> Converter:
    def convert(name: str, value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise invalid(name, f"'{value}' is not a list")
        return [item(name, v) for v in value]
    return convert


def dict_value(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(name, f"'{value}' is not a dictionary")
    return value


def anything(_name: str, value: Any) -> Any:
    return value


def list_of_dicts(name: str, value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise invalid(name, f"'{value}' is not a list of dictionaries")
    return value


def unwrap(body: Any, key: str) -> dict[str, Any]:
    """The resource's dict from ``{"<key>": {...}}``."""
    if not isinstance(body, dict) or key not in body:
        raise BadRequest(f"Unable to find '{key}' in request body")
    inner = body[key]
    if not isinstance(inner, dict):
        raise BadRequest(f"Invalid input for {key}. Reason: '{inner}' is not a dictionary.")
    return inner


def parse(body: Any, key: str, attrs: Mapping[str, Attr], creds: Credentials, update: bool = False,
          policy_prefix: str = "") -> dict[str, Any]:
    """The given attributes, converted; ``tenant_id`` becomes ``project_id`` (they must agree if both are given)."""
    given = dict(unwrap(body, key))
    if "tenant_id" in given:
        tenant = given.pop("tenant_id")
        if "project_id" in given and given["project_id"] != tenant:
            raise BadRequest("'project_id' and 'tenant_id' do not match")
        given.setdefault("project_id", tenant)
    unknown = sorted(name for name in given if name not in attrs and not (name == "project_id" and not update))
    if unknown:
        raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    parsed: dict[str, Any] = {}
    for name, value in given.items():
        if name == "project_id":
            if update:
                raise BadRequest("Cannot update read-only attribute project_id")
            parsed[name] = string(255)(name, value)
            continue
        attr = attrs[name]
        if update and not attr.put:
            raise BadRequest(f"Cannot update read-only attribute {name}")
        if not update and not attr.post:
            raise BadRequest(f"Attribute '{name}' not allowed in POST")
        if attr.admin_only and not creds.is_admin:
            action = f"{'update' if update else 'create'}_{policy_prefix or key}:{name}"
            raise Forbidden(f"(rule:{action}) is disallowed by policy")
        parsed[name] = attr.convert(name, value)
    if not update:
        missing = [name for name, attr in attrs.items() if attr.required and name not in parsed]
        if missing:
            raise BadRequest(f"Failed to parse request. Required attribute '{missing[0]}' not specified")
    return parsed


def entries(body: Any, key: str, collection: str) -> tuple[list[dict[str, Any]], bool]:
    """A create body's resources: one (``{"network": {...}}``) or a bulk (``{"networks": [...]}``)."""
    if isinstance(body, dict) and collection in body and key not in body:
        items = body[collection]
        if not isinstance(items, list) or not items:
            raise BadRequest(f"Invalid input for {collection}. Reason: a bulk request needs a non-empty list.")
        return [{key: item} for item in items], True
    return [body], False
