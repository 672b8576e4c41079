"""ImagePropertiesFilter: only hosts that can run the image's architecture, hypervisor type and VM mode."""

from __future__ import annotations

import numpy as np

from twinstack.core.scheduler.decision import Decision
from twinstack.core.scheduler.host_state import HostState, Mask

ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "i386": "i686", "i486": "i686", "i586": "i686",
                "x86_32": "i686", "arm64": "aarch64", "ppc64el": "ppc64le"}
HV_ALIASES = {"xapi": "xen"}
MODE_ALIASES = {"hv": "hvm", "baremetal": "hvm", "pv": "xen"}
HOST_MODES = frozenset({"hvm"})
"""Every host we run (libvirt KVM/QEMU, or simulated) runs full hardware-virtualised guests."""


def _canonical(value: str | None, aliases: dict[str, str]) -> str | None:
    if not value:
        return None
    value = value.strip().lower()
    return aliases.get(value, value)


class ImagePropertiesFilter:
    """Hosts supporting what the image properties ask (Nova's ImagePropertiesFilter): ``hw_architecture``
    (or ``architecture``) against the host's HW_ARCH_* trait (``default_architecture`` if it reports none),
    ``img_hv_type`` (or ``hypervisor_type``) against its hypervisor (a KVM host also runs ``qemu`` guests),
    ``hw_vm_mode`` (or ``vm_mode``) against hvm. An image asking none of these passes every host."""

    per_host = False

    def mask(self, state: HostState, decision: Decision) -> Mask | None:
        image = decision.spec.image
        if image is None or not image.properties:
            return None
        props = image.properties
        arch = _canonical(props.get("hw_architecture") or props.get("architecture"), ARCH_ALIASES)
        hv_type = _canonical(props.get("img_hv_type") or props.get("hypervisor_type"), HV_ALIASES)
        mode = _canonical(props.get("hw_vm_mode") or props.get("vm_mode"), MODE_ALIASES)
        if arch is None and hv_type is None and mode is None:
            return None
        default = decision.settings.default_architecture
        return state.memo(("image", arch, hv_type, mode, default),
                          lambda: _supporting(state, arch, hv_type, mode, default))


def _supporting(state: HostState, arch: str | None, hv_type: str | None, mode: str | None, default: str) -> Mask:
    mask = np.ones(state.n, dtype=np.bool_)
    if mode is not None and mode not in HOST_MODES:
        return np.zeros(state.n, dtype=np.bool_)
    if arch is not None:
        code = state.architectures.get(arch)
        reported = state.architecture == (-2 if code is None else code)
        mask &= reported | (state.architecture == -1) if arch == default else reported
    if hv_type is not None:
        accepted = {hv_type, "kvm"} if hv_type == "qemu" else {hv_type}
        codes = [c for c in map(state.hypervisor_types.get, accepted) if c is not None]
        mask &= np.isin(state.hypervisor, codes)
    return mask
