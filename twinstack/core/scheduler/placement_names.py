"""The names Placement speaks: resource classes and traits, standard and CUSTOM_*.

The standard names are those of OpenStack's ``os-resource-classes`` and ``os-traits`` that a
cloud like ours reports or a scheduler asks for; they are constants, never stored, and can be
neither created nor deleted. An operator's own names carry the ``CUSTOM_`` prefix and are stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from twinstack.core.errors import BadRequest, Conflict, NotFound
from twinstack.db.models.placement import (
    Allocation,
    CustomResourceClass,
    CustomTrait,
    Inventory,
    ProviderTrait,
)

CUSTOM_PREFIX = "CUSTOM_"
CUSTOM_NAME = re.compile(r"^CUSTOM_[A-Z0-9_]+$")
MAX_NAME = 255

STANDARD_RESOURCE_CLASSES: tuple[str, ...] = (
    "VCPU",
    "MEMORY_MB",
    "DISK_GB",
    "PCI_DEVICE",
    "SRIOV_NET_VF",
    "NUMA_SOCKET",
    "NUMA_CORE",
    "NUMA_THREAD",
    "NUMA_MEMORY_MB",
    "IPV4_ADDRESS",
    "VGPU",
    "VGPU_DISPLAY_HEAD",
    "NET_BW_EGR_KILOBIT_PER_SEC",
    "NET_BW_IGR_KILOBIT_PER_SEC",
    "PCPU",
    "MEM_ENCRYPTION_CONTEXT",
    "FPGA",
    "PGPU",
    "NET_PACKET_RATE_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
)

_X86_FEATURES = (
    "3DNOW", "ABM", "AESNI", "AMD_SVM", "AVX", "AVX2", "AVX512BW", "AVX512CD", "AVX512DQ",
    "AVX512ER", "AVX512F", "AVX512PF", "AVX512VL", "AVX512VNNI", "BMI", "BMI2", "CLMUL", "F16C",
    "FMA3", "FMA4", "MMX", "MPX", "PCLMULQDQ", "SGX", "SHA", "SSE", "SSE2", "SSE3", "SSE41",
    "SSE42", "SSE4A", "SSSE3", "SVM", "TBM", "TSX", "VMX", "XOP",
)

STANDARD_TRAITS: frozenset[str] = frozenset(
    [
        # Compute host capabilities and status, as Nova's virt drivers report them.
        "COMPUTE_ACCELERATORS",
        "COMPUTE_ADDRESS_SPACE_EMULATED",
        "COMPUTE_ADDRESS_SPACE_PASSTHROUGH",
        "COMPUTE_ARCH_AARCH64",
        "COMPUTE_ARCH_PPC64LE",
        "COMPUTE_ARCH_S390X",
        "COMPUTE_ARCH_X86_64",
        "COMPUTE_CONFIG_DRIVE_REGENERATION",
        "COMPUTE_DEVICE_TAGGING",
        "COMPUTE_EPHEMERAL_ENCRYPTION",
        "COMPUTE_FIRMWARE_BIOS",
        "COMPUTE_FIRMWARE_UEFI",
        "COMPUTE_GRAPHICS_MODEL_BOCHS",
        "COMPUTE_GRAPHICS_MODEL_CIRRUS",
        "COMPUTE_GRAPHICS_MODEL_NONE",
        "COMPUTE_GRAPHICS_MODEL_QXL",
        "COMPUTE_GRAPHICS_MODEL_VGA",
        "COMPUTE_GRAPHICS_MODEL_VIRTIO",
        "COMPUTE_IMAGE_TYPE_AKI",
        "COMPUTE_IMAGE_TYPE_AMI",
        "COMPUTE_IMAGE_TYPE_ARI",
        "COMPUTE_IMAGE_TYPE_ISO",
        "COMPUTE_IMAGE_TYPE_PLOOP",
        "COMPUTE_IMAGE_TYPE_QCOW2",
        "COMPUTE_IMAGE_TYPE_RAW",
        "COMPUTE_IMAGE_TYPE_VDI",
        "COMPUTE_IMAGE_TYPE_VHD",
        "COMPUTE_IMAGE_TYPE_VHDX",
        "COMPUTE_IMAGE_TYPE_VMDK",
        "COMPUTE_MANILA",
        "COMPUTE_MEM_BACKING_FILE",
        "COMPUTE_MIGRATE_AUTO_CONVERGE",
        "COMPUTE_MIGRATE_POST_COPY",
        "COMPUTE_NET_ATTACH_INTERFACE",
        "COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG",
        "COMPUTE_NET_VIF_MODEL_E1000",
        "COMPUTE_NET_VIF_MODEL_E1000E",
        "COMPUTE_NET_VIF_MODEL_NE2K_PCI",
        "COMPUTE_NET_VIF_MODEL_PCNET",
        "COMPUTE_NET_VIF_MODEL_RTL8139",
        "COMPUTE_NET_VIF_MODEL_VIRTIO",
        "COMPUTE_NET_VIF_MODEL_VMXNET3",
        "COMPUTE_NET_VIRTIO_PACKED",
        "COMPUTE_NODE",
        "COMPUTE_REMOTE_MANAGED_PORTS",
        "COMPUTE_RESCUE_BFV",
        "COMPUTE_SAME_HOST_COLD_MIGRATE",
        "COMPUTE_SECURITY_STATELESS_FIREWALL",
        "COMPUTE_SECURITY_TPM_1_2",
        "COMPUTE_SECURITY_TPM_2_0",
        "COMPUTE_SECURITY_UEFI_SECURE_BOOT",
        "COMPUTE_SOCKET_PCI_NUMA_AFFINITY",
        "COMPUTE_SOUND_MODEL_ICH6",
        "COMPUTE_SOUND_MODEL_ICH9",
        "COMPUTE_SOUND_MODEL_VIRTIO",
        "COMPUTE_STATUS_DISABLED",
        "COMPUTE_STORAGE_BUS_FDC",
        "COMPUTE_STORAGE_BUS_IDE",
        "COMPUTE_STORAGE_BUS_LXC",
        "COMPUTE_STORAGE_BUS_SATA",
        "COMPUTE_STORAGE_BUS_SCSI",
        "COMPUTE_STORAGE_BUS_USB",
        "COMPUTE_STORAGE_BUS_VIRTIO",
        "COMPUTE_STORAGE_BUS_XEN",
        "COMPUTE_STORAGE_VIRTIO_FS",
        "COMPUTE_TRUSTED_CERTS",
        "COMPUTE_VOLUME_ATTACH",
        "COMPUTE_VOLUME_ATTACH_WITH_TAG",
        "COMPUTE_VOLUME_EXTEND",
        "COMPUTE_VOLUME_MULTI_ATTACH",
        # Hardware.
        "HW_ARCH_AARCH64",
        "HW_ARCH_PPC64LE",
        "HW_ARCH_S390X",
        "HW_ARCH_X86_64",
        "HW_CPU_HYPERTHREADING",
        "HW_CPU_AARCH64_AES",
        "HW_CPU_AARCH64_SHA1",
        "HW_CPU_AARCH64_SHA2",
        "HW_CPU_AMD_SEV",
        "HW_CPU_PPC64LE_POWER8",
        "HW_CPU_PPC64LE_POWER9",
        *(f"HW_CPU_X86_{feature}" for feature in _X86_FEATURES),
        "HW_CPU_X86_AMD_SEV",
        "HW_CPU_X86_INTEL_VMX",
        "HW_GPU_API_CUDA_V10_0",
        "HW_GPU_API_DIRECT3D_V12_0",
        "HW_GPU_API_OPENGL_V4_6",
        "HW_GPU_API_VULKAN",
        "HW_GPU_MAX_DISPLAY_HEADS_1",
        "HW_GPU_MAX_DISPLAY_HEADS_2",
        "HW_GPU_MAX_DISPLAY_HEADS_4",
        "HW_GPU_RESOLUTION_W1920H1080",
        "HW_NIC_ACCEL_IPSEC",
        "HW_NIC_ACCEL_SSL",
        "HW_NIC_DCB_ETS",
        "HW_NIC_DCB_PFC",
        "HW_NIC_DCB_QCN",
        "HW_NIC_MULTIQUEUE",
        "HW_NIC_OFFLOAD_GENEVE",
        "HW_NIC_OFFLOAD_GRO",
        "HW_NIC_OFFLOAD_GSO",
        "HW_NIC_OFFLOAD_LRO",
        "HW_NIC_OFFLOAD_RX",
        "HW_NIC_OFFLOAD_SG",
        "HW_NIC_OFFLOAD_TSO",
        "HW_NIC_OFFLOAD_TX",
        "HW_NIC_OFFLOAD_UFO",
        "HW_NIC_OFFLOAD_VXLAN",
        "HW_NIC_SRIOV",
        "HW_NIC_SRIOV_MULTIQUEUE",
        "HW_NIC_SRIOV_QOS_RX",
        "HW_NIC_SRIOV_QOS_TX",
        "HW_NIC_SRIOV_TRUSTED",
        "HW_NIC_VMDQ",
        "HW_NUMA_ROOT",
        "HW_PCI_LIVE_MIGRATABLE",
        # Storage, sharing and ownership.
        "STORAGE_DISK_HDD",
        "STORAGE_DISK_SSD",
        "MISC_SHARES_VIA_AGGREGATE",
        "OWNER_CYBORG",
        "OWNER_NOVA",
    ]
)

SHARES_VIA_AGGREGATE = "MISC_SHARES_VIA_AGGREGATE"


def is_custom(name: str) -> bool:
    return name.startswith(CUSTOM_PREFIX)


def _check_custom_name(name: str, kind: str) -> None:
    if not CUSTOM_NAME.match(name) or len(name) > MAX_NAME:
        raise BadRequest(
            f"The {kind} name {name!r} is invalid: custom {kind}s must begin with the prefix "
            f"'{CUSTOM_PREFIX}' and contain only the letters A through Z, the numbers 0 through 9 "
            "and the underscore '_' character."
        )


# Resource classes --------------------------------------------------------------------------


def list_resource_classes(session: Session) -> list[str]:
    """Every resource class: the standard ones in their canonical order, then the custom ones."""
    custom = session.scalars(select(CustomResourceClass.name).order_by(CustomResourceClass.name))
    return [*STANDARD_RESOURCE_CLASSES, *custom]


def resource_class_exists(session: Session, name: str) -> bool:
    if name in STANDARD_RESOURCE_CLASSES:
        return True
    return session.get(CustomResourceClass, name) is not None


def missing_resource_classes(session: Session, names: Iterable[str]) -> list[str]:
    """The names, among ``names``, that are no resource class (sorted)."""
    custom = sorted({n for n in names if n not in STANDARD_RESOURCE_CLASSES})
    if not custom:
        return []
    known = set(session.scalars(select(CustomResourceClass.name).where(CustomResourceClass.name.in_(custom))))
    return [n for n in custom if n not in known]


def require_resource_classes(session: Session, names: Iterable[str]) -> None:
    missing = missing_resource_classes(session, names)
    if missing:
        raise BadRequest(f"No such resource class {', '.join(missing)}.")


def create_resource_class(session: Session, name: str) -> bool:
    """Create the custom class ``name``; False if it already existed (idempotent)."""
    _check_custom_name(name, "resource class")
    if session.get(CustomResourceClass, name) is not None:
        return False
    session.add(CustomResourceClass(name=name))
    session.flush()
    return True


def delete_resource_class(session: Session, name: str) -> None:
    """Delete a custom class no inventory uses; standard classes cannot be deleted."""
    if name in STANDARD_RESOURCE_CLASSES:
        raise BadRequest(f"Cannot delete standard resource class {name}.")
    row = session.get(CustomResourceClass, name)
    if row is None:
        raise NotFound(f"No such resource class {name}.")
    in_use = session.scalar(select(exists().where(Inventory.resource_class == name))) or session.scalar(
        select(exists().where(Allocation.resource_class == name))
    )
    if in_use:
        raise ResourceClassInUse(f"Unable to delete resource class {name}. The resource class is in use.")
    session.delete(row)
    session.flush()


def rename_resource_class(session: Session, name: str, new_name: str) -> None:
    """Rename an unused custom class (the pre-1.7 meaning of PUT /resource_classes/{name})."""
    if name in STANDARD_RESOURCE_CLASSES:
        raise BadRequest(f"Cannot update standard resource class {name}.")
    _check_custom_name(new_name, "resource class")
    row = session.get(CustomResourceClass, name)
    if row is None:
        raise NotFound(f"No such resource class {name}.")
    if resource_class_exists(session, new_name):
        raise DuplicateName(f"Resource class already exists: {new_name}")
    in_use = session.scalar(select(exists().where(Inventory.resource_class == name)))
    if in_use:
        raise ResourceClassInUse(f"Unable to update resource class {name}. The resource class is in use.")
    session.delete(row)
    session.flush()
    session.add(CustomResourceClass(name=new_name))
    session.flush()


# Traits --------------------------------------------------------------------------------------


def list_traits(session: Session, names: Iterable[str] | None = None, prefix: str | None = None,
                associated: bool | None = None) -> list[str]:
    """Trait names, sorted, optionally among ``names``, starting with ``prefix``, and (not) on a provider."""
    every = set(STANDARD_TRAITS) | set(session.scalars(select(CustomTrait.name)))
    if names is not None:
        every &= set(names)
    if prefix is not None:
        every = {t for t in every if t.startswith(prefix)}
    if associated is not None:
        used = set(session.scalars(select(ProviderTrait.trait).distinct()))
        every = every & used if associated else every - used
    return sorted(every)


def trait_exists(session: Session, name: str) -> bool:
    if name in STANDARD_TRAITS:
        return True
    return session.get(CustomTrait, name) is not None


def require_traits(session: Session, names: Iterable[str]) -> None:
    wanted = {n for n in names if n not in STANDARD_TRAITS}
    if not wanted:
        return
    known = set(session.scalars(select(CustomTrait.name).where(CustomTrait.name.in_(sorted(wanted)))))
    missing = sorted(wanted - known)
    if missing:
        raise BadRequest(f"No such trait(s): {', '.join(missing)}.")


def create_trait(session: Session, name: str) -> bool:
    """Create the custom trait ``name``; False if it already existed (idempotent)."""
    if not is_custom(name):
        raise BadRequest(f"The trait is invalid. A valid trait must be no longer than {MAX_NAME} characters, "
                         f"start with the prefix \"{CUSTOM_PREFIX}\" and use following characters: \"A\"-\"Z\", "
                         "\"0\"-\"9\" and \"_\"")
    _check_custom_name(name, "trait")
    if session.get(CustomTrait, name) is not None:
        return False
    session.add(CustomTrait(name=name))
    session.flush()
    return True


def delete_trait(session: Session, name: str) -> None:
    """Delete a custom trait no provider carries; standard traits cannot be deleted."""
    if name in STANDARD_TRAITS:
        raise BadRequest(f"Cannot delete standard trait {name}.")
    row = session.get(CustomTrait, name)
    if row is None:
        raise NotFound(f"No such trait(s): {name}.")
    if session.scalar(select(exists().where(ProviderTrait.trait == name))):
        raise TraitInUse(f"The trait {name} is in use by a resource provider.")
    session.execute(delete(CustomTrait).where(CustomTrait.name == name))


class DuplicateName(Conflict):
    """A provider, resource class or trait of that name already exists."""


class ResourceClassInUse(Conflict):
    """The custom resource class still has inventories or allocations."""


class TraitInUse(Conflict):
    """The custom trait is still carried by a provider."""
