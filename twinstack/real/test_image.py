"""The small test image, built from the distribution's own packages: its kernel and a busybox initramfs.

The guest it makes boots under TCG in seconds, loads the virtio modules its kernel keeps as modules,
reads its config drive (an ISO 9660 CD-ROM labelled config-2, twinstack.real.config_drive), names itself
from it (else from the kernel command line's ``hostname=``, which the agent also sets from the server's name),
takes eth0's address by DHCP when it has a NIC, then runs the user data when it is a script (``#!``, its
output on the console) and, when the server's metadata has a ``ping`` key, pings that address every second
and says so each time the answer changes, answers the ACPI power button (so soft stop and
soft reboot work) and prints parseable lines on its serial console::

    twinstack-guest: config-drive found      (or "config-drive absent")
    twinstack-guest: hostname web-1
    twinstack-guest: eth0 10.0.0.5/24        (or "eth0 absent", "eth0 no-lease")
    twinstack-guest: disk vda 1024M          (each virtio disk as it appears, a volume attached later too, and
                                              again when its size changes: a volume extended while attached)
    twinstack-guest: user-data started       (a user-data script runs; what it prints follows)
    twinstack-guest: ready
    twinstack-guest: ping 10.0.0.6 failed    (metadata ping=10.0.0.6: each change of the answer)
    twinstack-guest: ping 10.0.0.6 ok
    twinstack-guest: disk vdb gone           (a disk detached)
"""

from __future__ import annotations

import gzip
import lzma
import re
from dataclasses import dataclass
from pathlib import Path

from twinstack.real import initramfs
from twinstack.real.initramfs import Entry

VIRTIO_MODULES = ("virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
                  "failover", "net_failover", "virtio_net", "virtio_blk")
"""Loaded in this order: each needs the ones before it."""
CONFIG_DRIVE_MODULES = ("scsi_common", "scsi_mod", "libata", "ata_piix", "cdrom", "sr_mod", "isofs")
"""The IDE CD-ROM the config drive is on, and its ISO 9660 file system, in load order (absent: built in)."""
OPTIONAL_MODULES = ("button", "evdev", *CONFIG_DRIVE_MODULES)
"""The ACPI power button as an input device (what libvirt presses for a soft stop or reboot), and the above."""
BUSYBOX = Path("/bin/busybox")
LINE_PREFIX = "twinstack-guest:"
HOSTNAME_LINE = re.compile(rf"^{LINE_PREFIX} hostname (\S+)\s*$", re.MULTILINE)
READY_LINE = re.compile(rf"^{LINE_PREFIX} ready\s*$", re.MULTILINE)
# Lines printed after "ready" come from background loops: the first may share its line with the console
# shell's prompt ("/ # \x1b[6n"), so they are matched anywhere on a line, not from its start.
DISK_LINE = re.compile(rf"{LINE_PREFIX} disk (vd[a-z]+) (\d+)M\s*$", re.MULTILINE)
DISK_GONE_LINE = re.compile(rf"{LINE_PREFIX} disk (vd[a-z]+) gone\s*$", re.MULTILINE)
PING_LINE = re.compile(rf"{LINE_PREFIX} ping (\S+) (ok|failed)\s*$", re.MULTILINE)

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in @MODULES@; do
  insmod /lib/modules/$m.ko || echo "@P@ module $m failed"
done
for m in @OPTIONAL@; do
  [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko
done
name=twinstack-guest
for arg in $(cat /proc/cmdline); do
  case "$arg" in hostname=*) name="${arg#hostname=}";; esac
done
drive=/mnt/config/openstack/latest
for i in $(seq 50); do [ -b /dev/sr0 ] && break; sleep 0.1; done
if mount -t iso9660 -o ro /dev/sr0 /mnt/config 2>/dev/null && [ -f $drive/meta_data.json ]; then
  echo "@P@ config-drive found"
  from_drive=$(sed -n 's/.*"hostname": *"\([^"]*\)".*/\1/p' $drive/meta_data.json)
  [ -n "$from_drive" ] && name="$from_drive"
  target=$(sed -n 's/.*"ping": *"\([^"]*\)".*/\1/p' $drive/meta_data.json)
else
  echo "@P@ config-drive absent"
fi
hostname "$name"
echo "@P@ hostname $name"
ip link set lo up
if ip link show eth0 >/dev/null 2>&1; then
  ip link set eth0 up
  udhcpc -i eth0 -t 5 -T 2 -n -q -s /etc/udhcpc.script >/dev/null 2>&1 || echo "@P@ eth0 no-lease"
else
  echo "@P@ eth0 absent"
fi
if [ -n "$target" ]; then
  (last=""
   while true; do
     if ping -c 1 -W 1 "$target" >/dev/null 2>&1; then now=ok; else now=failed; fi
     [ "$now" = "$last" ] || echo "@P@ ping $target $now"
     last=$now; sleep 1
   done) &
fi
if [ -f $drive/user_data ] && [ "$(head -c 2 $drive/user_data)" = "#!" ]; then
  cp $drive/user_data /tmp/user-data && chmod +x /tmp/user-data
  echo "@P@ user-data started"
  /tmp/user-data </dev/null >/dev/console 2>&1 &
fi
for ev in /sys/class/input/event*; do
  if [ "$(cat $ev/device/name 2>/dev/null)" = "Power Button" ]; then
    (dd if=/dev/input/${ev##*/} of=/dev/null bs=24 count=1 2>/dev/null
     echo "@P@ power button"; poweroff -f) &
  fi
done
seen=""
scan() {
  for b in /sys/block/vd*; do
    [ -e "$b" ] || continue
    d=${b##*/}
    size="$(( $(cat $b/size) / 2048 ))M"
    case " $seen " in *" $d "*) ;; *) seen="$seen $d";; esac
    [ "$(cat /tmp/size-$d 2>/dev/null)" = "$size" ] || { echo "$size" > /tmp/size-$d; echo "@P@ disk $d $size"; }
  done
  for d in $seen; do
    [ -e /sys/block/$d ] || { seen=$(echo " $seen " | sed "s/ $d / /"); rm -f /tmp/size-$d; echo "@P@ disk $d gone"; }
  done
}
scan  # the disks there at boot are listed before "ready"; later ones as they come and go
(while true; do sleep 1; scan; done) &
echo "@P@ ready"
while true; do setsid cttyhack sh; sleep 1; done
"""

UDHCPC_SCRIPT = r"""#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
    echo "@P@ $interface $ip/$mask" > /dev/console
    ;;
esac
"""


class TestImageError(Exception):
    """Something the test image is built from is missing (a kernel, its modules, busybox)."""


@dataclass(frozen=True)
class KernelParts:
    version: str
    vmlinuz: Path
    modules: dict[str, Path]
    """module name -> its .ko (possibly compressed) file, for each module found"""


def find_kernel(boot: Path = Path("/boot"), modules_root: Path = Path("/lib/modules")) -> KernelParts:
    """The newest kernel under ``boot`` whose modules are installed, with the virtio modules it needs."""
    candidates = sorted(boot.glob("vmlinuz-*"), reverse=True)
    for vmlinuz in candidates:
        version = vmlinuz.name.removeprefix("vmlinuz-")
        tree = modules_root / version
        if not tree.is_dir():
            continue
        found: dict[str, Path] = {}
        for path in tree.rglob("*.ko*"):
            name = path.name.split(".ko", 1)[0].replace("-", "_")
            if name in VIRTIO_MODULES or name in OPTIONAL_MODULES:
                found.setdefault(name, path)
        missing = [m for m in VIRTIO_MODULES if m not in found]
        if missing:
            raise TestImageError(f"kernel {version} lacks modules {missing} under {tree}")
        return KernelParts(version, vmlinuz, found)
    raise TestImageError(f"no kernel with modules: looked for {boot}/vmlinuz-* and {modules_root}/<version>")


def module_bytes(path: Path) -> bytes:
    """A module's ELF bytes; ``insmod`` in busybox wants them uncompressed."""
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.gz"):
        return gzip.decompress(data)
    if path.name.endswith(".ko"):
        return data
    raise TestImageError(f"cannot decompress {path} (only .ko, .ko.xz and .ko.gz are read)")


def ramdisk(kernel: KernelParts, busybox: Path = BUSYBOX) -> bytes:
    """The initramfs: busybox, the modules, /init and the DHCP client's script."""
    if not busybox.is_file():
        raise TestImageError(f"{busybox} is missing (install busybox-static)")
    present_optional = [m for m in OPTIONAL_MODULES if m in kernel.modules]
    init = (INIT.replace("@MODULES@", " ".join(VIRTIO_MODULES)).replace("@OPTIONAL@", " ".join(present_optional))
            .replace("@P@", LINE_PREFIX))
    entries: list[Entry] = [initramfs.directory(d) for d in
                            ("bin", "dev", "etc", "lib", "lib/modules", "mnt", "mnt/config", "proc", "sys", "tmp",
                             "root")]
    entries += [
        initramfs.char_device("dev/console", 5, 1),
        initramfs.char_device("dev/null", 1, 3),
        initramfs.file("bin/busybox", busybox.read_bytes(), executable=True),
        initramfs.symlink("bin/sh", "busybox"),
        initramfs.file("init", init.encode(), executable=True),
        initramfs.file("etc/udhcpc.script", UDHCPC_SCRIPT.replace("@P@", LINE_PREFIX).encode(), executable=True),
    ]
    for name in (*VIRTIO_MODULES, *present_optional):
        entries.append(initramfs.file(f"lib/modules/{name}.ko", module_bytes(kernel.modules[name])))
    return initramfs.initramfs(entries)


@dataclass(frozen=True)
class TestImageFiles:
    kernel: Path
    ramdisk: Path
    version: str


def build(out_dir: Path, kernel: KernelParts | None = None) -> TestImageFiles:
    """Write ``vmlinuz`` and ``initrd.gz`` into ``out_dir`` (made if needed); rebuilding gives the same bytes."""
    parts = kernel or find_kernel()
    out_dir.mkdir(parents=True, exist_ok=True)
    kernel_path, ramdisk_path = out_dir / "vmlinuz", out_dir / "initrd.gz"
    kernel_path.write_bytes(parts.vmlinuz.read_bytes())
    ramdisk_path.write_bytes(ramdisk(parts))
    return TestImageFiles(kernel_path, ramdisk_path, parts.version)
