"""``twinstack image build-test``: build the test image and put it in a running cloud's image service.

Three images, the AKI/ARI way Nova boots a kernel directly: the kernel (aki), the initramfs (ari) and
a small empty qcow2 boot disk (the server's ``vda``) whose ``kernel_id`` and ``ramdisk_id`` properties
name the other two. Re-running uploads nothing that is already there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from twinstack.real import disks, glance_upload, test_image

BOOT_IMAGE = "twinstack-busybox"
BOOT_DISK_MB = 64


@dataclass(frozen=True)
class Uploaded:
    boot_id: str
    kernel_id: str
    ramdisk_id: str
    kernel_version: str


def build_and_upload(work_dir: Path, clouds_yaml: Path, name: str = BOOT_IMAGE) -> Uploaded:
    files = test_image.build(work_dir)
    disk = work_dir / "disk.qcow2"
    if not disk.exists():
        disks.create_blank(disk, BOOT_DISK_MB)
    session = glance_upload.login(clouds_yaml)
    kernel_id = glance_upload.upload(session, f"{name}-kernel", files.kernel, "aki", "aki")
    ramdisk_id = glance_upload.upload(session, f"{name}-ramdisk", files.ramdisk, "ari", "ari")
    boot_id = glance_upload.upload(session, name, disk, "qcow2", "bare",
                                   {"kernel_id": kernel_id, "ramdisk_id": ramdisk_id,
                                    "os_command_line": "console=ttyS0", "os_type": "linux"})
    return Uploaded(boot_id, kernel_id, ramdisk_id, files.version)
