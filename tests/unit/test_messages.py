"""Messages are versioned: older minors are read, other majors refused, and every schema is pinned."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
from pathlib import Path

import pytest

import twinstack.rpc
from twinstack.rpc.compute import DestroyInstance, SpawnInstance
from twinstack.rpc.messages import REGISTRY, Envelope, IncompatibleMessage, new_command_id, open_envelope, seal

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


def test_in_process_the_receiver_takes_the_sealed_message_itself() -> None:
    command = DestroyInstance(host="h1", instance_uuid="i1")
    assert open_envelope(seal(command)) is command


def test_over_a_wire_the_body_alone_rebuilds_the_message() -> None:
    """What a transport sends: name, version and the JSON body; the receiver validates it into its model."""
    command = DestroyInstance(host="h1", instance_uuid="i1")
    sealed = seal(command, reply_to="conductor")
    wire = json.loads(json.dumps({"name": sealed.name, "version": sealed.version, "body": sealed.body}))
    received = open_envelope(Envelope(wire["name"], wire["version"], body=wire["body"]))
    assert received == command and received is not command


def test_an_envelope_holds_a_body_or_a_message() -> None:
    with pytest.raises(ValueError):
        Envelope("compute.destroy_instance", "1.0")


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


def test_a_forked_process_draws_its_own_command_ids() -> None:
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: send one id back and leave at once
        os.write(write, new_command_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    theirs = os.read(read, 64).decode()
    os.close(read)
    ours = new_command_id()
    assert len(theirs) == len(ours) == 32
    assert theirs[:20] != ours[:20]


if __name__ == "__main__":
    PINNED.write_text(json.dumps(current_schemas(), indent=1, sort_keys=True) + "\n")
