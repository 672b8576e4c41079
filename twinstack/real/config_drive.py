"""The config drive: an ISO 9660 image labelled ``config-2`` holding what Nova's metadata would say.

Real hosts have no metadata service (nothing answers 169.254.169.254 in the router namespaces), so every
guest gets a config drive, as Nova's ``force_config_drive`` does: ``openstack/latest/meta_data.json`` (uuid,
name, hostname, the server's metadata as ``meta``, its public key) and ``openstack/latest/user_data`` (the
user data, decoded from the base64 the API stores) when there is any. Rock Ridge and Joliet names carry
the exact file names, so cloud-init, cirros and the test image all read it the way they read Nova's.

The image is built in Python (pycdlib) rather than by genisoimage: one dependency fewer on the host and
nothing to run as root. Nova attaches it as a read-only CD-ROM on the IDE bus; :mod:`domain_xml` does too.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pycdlib

LABEL = "config-2"
"""The volume label cloud-init and cirros look for."""


@dataclass(frozen=True)
class InstanceMetadata:
    uuid: str
    name: str
    hostname: str
    meta: dict[str, str] = field(default_factory=dict)
    user_data: str | None = None
    """base64, as the compute API accepted and stored it"""
    key_data: str | None = None


def meta_data(instance: InstanceMetadata) -> dict[str, object]:
    """``meta_data.json`` in Nova's shape (the fields a guest acts on)."""
    document: dict[str, object] = {
        "uuid": instance.uuid, "name": instance.name, "hostname": instance.hostname, "launch_index": 0,
        "meta": dict(instance.meta),
    }
    if instance.key_data:
        document["public_keys"] = {"default": instance.key_data}
        document["keys"] = [{"name": "default", "type": "ssh", "data": instance.key_data}]
    return document


def user_data_bytes(user_data: str | None) -> bytes | None:
    """The user data as the guest reads it; undecodable base64 (the API refuses it) is given as it came."""
    if not user_data:
        return None
    try:
        return base64.b64decode(user_data, validate=True)
    except (binascii.Error, ValueError):
        return user_data.encode()


def _add_file(iso: pycdlib.PyCdlib, directory: tuple[str, str], name: str, data: bytes) -> None:
    iso_dir, path = directory
    iso_name = name.upper().replace("-", "_")
    if "." not in iso_name:
        iso_name += "."
    iso.add_fp(io.BytesIO(data), len(data), f"{iso_dir}/{iso_name};1", rr_name=name, joliet_path=f"{path}/{name}")


def write(instance: InstanceMetadata, destination: Path) -> None:
    """Write the config drive image to ``destination`` (replaced if there), readable by QEMU's user."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=LABEL)
    iso.add_directory("/OPENSTACK", rr_name="openstack", joliet_path="/openstack")
    iso.add_directory("/OPENSTACK/LATEST", rr_name="latest", joliet_path="/openstack/latest")
    latest = ("/OPENSTACK/LATEST", "/openstack/latest")
    _add_file(iso, latest, "meta_data.json", json.dumps(meta_data(instance)).encode())
    user_data = user_data_bytes(instance.user_data)
    if user_data is not None:
        _add_file(iso, latest, "user_data", user_data)
    partial = destination.with_name(destination.name + ".part")
    try:
        iso.write(str(partial))
        partial.chmod(0o644)
        partial.replace(destination)
    finally:
        iso.close()
        partial.unlink(missing_ok=True)
