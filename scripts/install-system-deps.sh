#!/usr/bin/env bash
# Installs and starts what the test suite needs from the system. Idempotent: safe to run every time,
# and quick when everything is already there (each part is checked before anything is installed).
# - PostgreSQL and RabbitMQ running locally (started again here if they have stopped);
# - the real host agent's stack (DESIGN.md "The real host agent"): libvirtd and virtlogd with QEMU,
#   qemu-img, dnsmasq, nftables, the distribution's kernel and busybox for the test image, and the
#   headers libvirt-python builds against. Without an init system libvirtd is started by hand.
# A missing component is a loud failure, never a skipped test.
set -euo pipefail

need_apt=()
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt+=(postgresql)
command -v rabbitmq-server >/dev/null 2>&1 || need_apt+=(rabbitmq-server)
# the real host agent: one probe per package (a command or a file the package ships)
[[ -x /usr/sbin/libvirtd ]] || need_apt+=(libvirt-daemon-system)
command -v qemu-system-x86_64 >/dev/null 2>&1 || need_apt+=(qemu-system-x86)
command -v qemu-img >/dev/null 2>&1 && command -v qemu-nbd >/dev/null 2>&1 || need_apt+=(qemu-utils)  # qemu-nbd: volumes exported to other hosts
command -v dnsmasq >/dev/null 2>&1 || need_apt+=(dnsmasq)
command -v nft >/dev/null 2>&1 || need_apt+=(nftables)
[[ -x /bin/busybox ]] || need_apt+=(busybox-static)
kernel_with_modules() {  # a kernel under /boot whose virtio modules are installed (the test image needs both)
  local kernel
  for kernel in /boot/vmlinuz-*; do
    [[ -d "/lib/modules/${kernel#/boot/vmlinuz-}/kernel/drivers/virtio" ]] && return 0
  done
  return 1
}
kernel_with_modules || need_apt+=(linux-image-amd64)
pkg-config --exists libvirt 2>/dev/null || need_apt+=(libvirt-dev pkg-config)
if ((${#need_apt[@]})); then
  echo "installing system packages: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test"

if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached || true
  for _ in $(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done
fi
(exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null || { echo "RabbitMQ is not answering on 127.0.0.1:5672" >&2; exit 1; }

# libvirt: the daemon started by hand (no systemd here) wants the libvirt-qemu user and group its
# packages normally make, and virtlogd for the guests' serial logs.
getent group kvm >/dev/null || groupadd -r kvm
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null \
  || useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
getent group libvirt >/dev/null || groupadd -r libvirt
if ! pgrep -x virtlogd >/dev/null; then
  echo "starting virtlogd"
  /usr/sbin/virtlogd --daemon
fi
if ! virsh -c qemu:///system version >/dev/null 2>&1; then
  echo "starting libvirtd"
  pgrep -x libvirtd >/dev/null || /usr/sbin/libvirtd --daemon
  for _ in $(seq 1 30); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 1; done
fi
virsh -c qemu:///system version >/dev/null || { echo "libvirtd is not answering on qemu:///system" >&2; exit 1; }
for tool in qemu-system-x86_64 qemu-img dnsmasq nft; do
  command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 1; }
done
[[ -x /bin/busybox ]] || { echo "busybox (static) is missing" >&2; exit 1; }
kernel_with_modules || { echo "no kernel under /boot with its virtio modules under /lib/modules" >&2; exit 1; }
echo "system dependencies ready"
