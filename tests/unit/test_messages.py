"""Messages are versioned: older minors are read, other majors refused, and every schema is pinned."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import pytest

import twinstack.rpc
from twinstack.rpc.compute import DestroyInstance, SpawnInstance
from twinstack.rpc.messages import REGISTRY, Envelope, IncompatibleMessage, open_envelope, seal

PINNED = Path(__file__).with_name("message_schemas.json")


def current_schemas() -> dict[str, object]:
    """Every message of every module in ``twinstack.rpc`` (all imported here, so that what is pinned never
    depends on which other tests ran first in this process)."""
    for module in pkgutil.iter_modules(twinstack.rpc.__path__):
        importlib.import_module(f"twinstack.rpc.{module.name}")
    return {
        name: {"version": cls.version, "schema": cls.model_json_schema()}
        for name, cls in sorted(REGISTRY.items())
        if not name.startswith("test.")
    }


def test_every_message_schema_is_pinned() -> None:
    """If this fails, the wire changed: bump the version (minor: only optional fields added) and
    regenerate the pin with ``python -m tests.unit.test_messages``."""
    assert json.loads(PINNED.read_text()) == json.loads(json.dumps(current_schemas()))


def test_round_trip_through_an_envelope() -> None:
    command = DestroyInstance(host="h1", instance_uuid="i1")
    assert open_envelope(seal(command)) == command


def test_an_older_minor_version_without_newer_fields_is_read_with_defaults() -> None:
    body = seal(DestroyInstance(host="h1", instance_uuid="i1")).body
    older = Envelope(name="compute.destroy_instance", version="1.0", body=body)
    newer = Envelope(name="compute.destroy_instance", version="1.7", body={**body, "added_in_1_7": True})
    assert open_envelope(older) == open_envelope(newer)


def test_another_major_version_is_refused() -> None:
    envelope = Envelope(name="compute.destroy_instance", version="2.0", body={})
    with pytest.raises(IncompatibleMessage):
        open_envelope(envelope)


def test_an_unknown_message_is_refused() -> None:
    with pytest.raises(IncompatibleMessage):
        open_envelope(Envelope(name="compute.no_such", version="1.0", body={}))


def test_commands_carry_distinct_ids_for_idempotent_redelivery() -> None:
    flavor = {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram_mb": 512, "disk_gb": 1}
    a = SpawnInstance(host="h", instance_uuid="i", instance_name="n", flavor=flavor)  # type: ignore[arg-type]
    b = SpawnInstance(host="h", instance_uuid="i", instance_name="n", flavor=flavor)  # type: ignore[arg-type]
    assert a.command_id != b.command_id


if __name__ == "__main__":
    PINNED.write_text(json.dumps(current_schemas(), indent=1, sort_keys=True) + "\n")
