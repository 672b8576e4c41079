"""Which connection a host gets to a volume: its back end's file when the host is the back end's own, an NBD export
of the back end otherwise (real hosts' qcow2 back ends); iSCSI-style for any other back end."""

from __future__ import annotations

from twinstack.core.volume.attachments import connection_info, exported_from
from twinstack.db.models.volume import VolumeRow


def volume(host: str | None = "real-a@ssd#ssd") -> VolumeRow:
    return VolumeRow(id="v1", host=host)


def test_a_file_back_ends_own_host_attaches_the_file() -> None:
    info = connection_info(volume(), "rw", "local", host="real-a")
    assert info["driver_volume_type"] == "local" and info["data"]["name"] == "volume-v1.qcow2"
    assert exported_from(volume(), info) is None
    assert connection_info(volume(), "rw", "local")["driver_volume_type"] == "local", "no host known: local"


def test_another_host_reaches_the_volume_over_nbd_exported_by_its_back_end() -> None:
    info = connection_info(volume(), "ro", "local", host="real-b")
    assert info["driver_volume_type"] == "nbd"
    assert info["data"] | {"host": "set by the back end"} == {
        "volume_id": "v1", "name": "volume-v1", "host": "set by the back end", "port": None, "format": "raw",
        "access_mode": "ro", "encrypted": False}
    assert exported_from(volume(), info) == "real-a@ssd"


def test_other_back_ends_keep_their_iscsi_style_target_whatever_the_host() -> None:
    info = connection_info(volume("sim@lvm#pool"), "rw", "iSCSI", host="real-b")
    assert info["driver_volume_type"] == "iscsi" and exported_from(volume("sim@lvm#pool"), info) is None
