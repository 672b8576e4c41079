"""The one typed settings object of a Twinstack cloud.

Read, in rising priority, from the defaults below, a TOML file (``twinstack.toml`` in the working
directory, or the file named by ``TWINSTACK_CONFIG``) and ``TWINSTACK_*`` environment variables
(nested fields joined by ``__``, e.g. ``TWINSTACK_IDENTITY__TOKEN_TTL_SECONDS``). Nothing reads the
environment except :func:`load_settings`; everything else receives a ``Settings``.
"""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from twinstack.core.scheduler.settings import SchedulerSettings
from twinstack.core.volume.scheduler.settings import VolumeSchedulerSettings


class LogHandler(BaseModel):
    """One log handler, built by :func:`logging.config.dictConfig`: any class importable by name."""

    handler_class: str = Field(
        "logging.StreamHandler",
        alias="class",
        description="Dotted path of a logging.Handler subclass, built-in or your own.",
    )
    level: str = Field("INFO", description="Lowest level this handler emits.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the handler (e.g. filename)."
    )

    model_config = {"populate_by_name": True}


class LoggingSettings(BaseModel):
    level: str = Field("INFO", description="Level of the twinstack loggers.")
    handlers: list[LogHandler] = Field(
        default_factory=lambda: [LogHandler()],
        description="Where log records go; each entry names a handler class and its options.",
    )
    format: str = Field(
        "%(asctime)s %(levelname)s %(name)s %(message)s", description="Format of every log line."
    )


class ApiSettings(BaseModel):
    """Limits every API applies to request bodies before reading them (see twinstack.api.body_limits)."""

    max_request_body_bytes: int = Field(
        1024 * 1024, ge=1024,
        description="Largest request body, in bytes; a larger one is refused with 413 before it is read "
        "(oslo.middleware's sizelimit allows 112 KiB; placement allocations for many consumers need more). "
        "Image data uploads stream to the store and are limited by [image] image_size_cap instead.")
    max_json_depth: int = Field(
        64, ge=2, le=500,
        description="Deepest nesting of arrays and objects in a JSON body; a deeper one is refused with 400 "
        "as it arrives, before it is parsed.")


class IdentitySettings(BaseModel):
    token_ttl_seconds: int = Field(3600, ge=60, description="How long an issued token is valid.")
    password_kdf_n: int = Field(
        2**14, description="scrypt cost (N) for password hashes; a power of two."
    )
    admin_user: str = Field("admin", description="Name of the user made by bootstrap.")
    admin_project: str = Field("admin", description="Name of the project made by bootstrap.")
    admin_password: str | None = Field(
        None, description="Password for the bootstrap admin; generated (and saved) when unset."
    )
    list_limit: int | None = Field(
        None, description="Most entities one identity list returns when the client asks for no ?limit= (then "
        "'truncated': true and a 'next' link to the rest)."
    )
    max_db_limit: int = Field(
        1000, ge=1, description="Largest page a client's ?limit= may ask of an identity list (Keystone's option "
        "of that name); a larger limit is cut to it."
    )


class ComputeSettings(BaseModel):
    backend: str = Field("sim", description="Host agents to run in-process: 'sim' (simulated hosts), "
                         "'real' (this machine's libvirt) or 'none'.")
    hosts: int = Field(100, ge=0, description="Simulated hosts when no datacenter file is given.")
    datacenter: Path | None = Field(None, description="YAML datacenter file describing the simulated hosts.")
    speed: float = Field(1.0, gt=0, description="Live simulation speed-up: virtual seconds per wall second.")
    seed: int = Field(0, description="Seed of the simulated hosts' random draws.")
    max_attempts: int = Field(3, ge=1, description="Hosts tried for one build before it ends in ERROR.")
    build_timeout: float = Field(600.0, gt=0, description="Seconds a host may take to answer a command.")
    service_down_time: float = Field(60.0, gt=0, description="Seconds without heartbeat before a host is down.")
    allow_resize_to_same_host: bool = Field(
        False, description="May a resize land on the host it leaves (Nova's option of that name)?")
    plane: Literal["embedded", "external"] = Field(
        "embedded", description="Where the conductor runs: 'embedded' (inside 'twinstack serve') or 'external' "
        "('twinstack conductor' processes; serve then runs the APIs only, over bus transport 'amqp').")
    scheduler: Literal["local", "remote"] = Field(
        "local", description="Where a conductor's builds are scheduled: 'local' (in the conductor's own process) or "
        "'remote' (the 'twinstack scheduler' processes, asked over bus transport 'amqp', as Nova's conductor asks "
        "nova-scheduler). The offline simulator always schedules in-process.")
    scheduler_timeout: float = Field(
        300.0, gt=0, description="Seconds a conductor waits for a remote scheduler's answer before sending the "
        "request again; a build ends in ERROR after three such timeouts in which no scheduler answered anything "
        "(or ten in all).")
    cell_timeout: float = Field(
        3.0, gt=0, description="Seconds a cell's own database may take to answer before the cell counts as down: "
        "listings skip it (microversion 2.69 shows its servers as UNKNOWN) and the scheduler sends it no builds.")


class BusSettings(BaseModel):
    """How the control plane's parts and host agents message each other (DESIGN.md rule 8)."""

    transport: Literal["inprocess", "amqp"] = Field(
        "inprocess", description="'inprocess' (one process, no broker) or 'amqp' (RabbitMQ at url).")
    url: str = Field("amqp://guest:guest@127.0.0.1:5672//", description="AMQP broker URL (transport 'amqp').")
    prefix: str = Field("twinstack", description="Name of the exchange; queues are named <prefix>.<topic>.")
    publish_timeout: float = Field(
        30.0, gt=0, description="Seconds a publish retries an unreachable broker before it fails.")
    cell_publish_timeout: float = Field(
        5.0, gt=0, description="Seconds a publish to a cell's own bus (its transport URL) retries before the cell "
        "counts as down for 10 s: short, so that a cell whose broker is away does not hold up the others.")


class NetworkSettings(BaseModel):
    """The networking service's ML2-like choices: segment ranges, MTU, MAC prefix, the public network."""

    tenant_network_type: str = Field("vxlan", description="Segment type of networks made without provider attributes.")
    vni_ranges: list[tuple[int, int]] = Field(
        default_factory=lambda: [(1, 65535)], description="VXLAN ids tenant networks are given, inclusive ranges.")
    network_vlan_ranges: dict[str, tuple[int, int]] = Field(
        default_factory=lambda: {"physnet1": (1000, 2999)},
        description="Physical networks that carry VLANs, with the VLAN ids each offers.")
    flat_networks: list[str] = Field(
        default_factory=lambda: ["public", "physnet1"], description="Physical networks that may carry a flat network.")
    global_physnet_mtu: int = Field(1500, ge=68, description="MTU of the physical networks (flat and VLAN networks).")
    vxlan_overhead: int = Field(50, ge=0, description="Bytes VXLAN encapsulation takes from the MTU.")
    base_mac: str = Field("fa:16:3e:00:00:00", description="Ports' MAC addresses start with its first three octets.")
    public_network: bool = Field(
        True, description="Bootstrap makes an external network 'public' with a subnet, as devstack does.")
    public_cidr: str = Field("172.24.4.0/24", description="Subnet of the public network; floating IPs come from it.")
    public_gateway: str = Field("172.24.4.1", description="Gateway address of the public subnet.")
    default_subnetpool_v4: str = Field(
        "10.0.0.0/16", description="Bootstrap makes a shared default IPv4 subnet pool of this prefix, as devstack "
        "does ('shared-default-subnetpool-v4', whose /22 would give only 16 projects a network): `subnet create "
        "--use-default-subnet-pool` and get-me-a-network (`server create --nic auto`, what clients send at compute "
        "2.37 and later when no network is named) carve from it. Empty: none.")
    default_subnetpool_v4_prefixlen: int = Field(
        26, ge=1, le=32, description="Prefix length of the subnets carved from the default IPv4 pool by default.")


class ImageStoreSettings(BaseModel):
    """One place image data is kept (Glance's ``enabled_backends``); only 'file' stores exist so far."""

    name: str = Field(..., description="Store id clients see in /v2/info/stores and pass as X-Image-Meta-Store.")
    kind: str = Field("file", description="Store driver: 'file' (a directory on a local or shared filesystem).")
    path: Path | None = Field(None, description="Directory of a 'file' store; <data_dir>/images/<name> when unset.")
    description: str = Field("", description="Free text shown in /v2/info/stores.")


class PropertyProtection(BaseModel):
    """Glance's property-protections rule: who may create/read/update/delete extra properties matching a regex.

    Roles are role names; '@' means any caller and '!' nobody. Rules are tried in order, the first
    whose pattern matches decides; once any rule exists, a property no rule matches is refused.
    """

    pattern: str = Field(..., description="Regular expression searched in the property's name.")
    create: list[str] = Field(default_factory=lambda: ["@"], description="Roles that may add it.")
    read: list[str] = Field(default_factory=lambda: ["@"], description="Roles that may see it.")
    update: list[str] = Field(default_factory=lambda: ["@"], description="Roles that may change it.")
    delete: list[str] = Field(default_factory=lambda: ["@"], description="Roles that may remove it.")


class ImageSettings(BaseModel):
    """The image service's stores, limits and Glance switches."""

    stores: list[ImageStoreSettings] = Field(
        default_factory=lambda: [ImageStoreSettings(name="file", description="Local filesystem store")],
        description="Stores image data may be kept in.")
    default_store: str | None = Field(None, description="Store uploads go to when none is asked; the first when unset.")
    staging_path: Path | None = Field(
        None, description="Where glance-direct stages data before import; <data_dir>/images/staging when unset.")
    image_size_cap: int = Field(2**40, ge=1, description="Largest image accepted, in bytes (Glance's default, 1 TiB).")
    show_multiple_locations: bool = Field(
        False, description="Show and allow changing an image's 'locations' (to callers policy allows).")
    show_image_direct_url: bool = Field(False, description="Show the first location as 'direct_url'.")
    import_methods: list[str] = Field(
        default_factory=lambda: ["glance-direct", "web-download", "copy-image"],
        description="Interoperable import methods offered.")
    property_protections: list[PropertyProtection] = Field(
        default_factory=list, description="Property protection rules; none means every property is free.")


class VolumeBackendSettings(BaseModel):
    """One storage back end (a Cinder volume driver instance): its pools and what they offer."""

    name: str = Field(description="Back end name; volumes on it are at host 'twinstack@<name>#<pool>'.")
    volume_backend_name: str = Field(description="Capability a volume type's 'volume_backend_name' extra spec matches.")
    pools: int = Field(1, ge=1, description="Pools the back end reports, each with capacity_gb.")
    capacity_gb: int = Field(1000, ge=1, description="Total capacity of each pool, GiB.")
    thin_provisioning: bool = Field(False, description="Thin pools may promise more than they hold (see the ratio).")
    max_over_subscription_ratio: float = Field(20.0, ge=1.0, description="How far a thin pool may be oversubscribed.")
    reserved_percentage: int = Field(0, ge=0, le=100, description="Share of each pool kept free.")
    availability_zone: str = Field("nova", description="Availability zone the back end's volumes are in.")
    capabilities: dict[str, str] = Field(default_factory=dict, description="More capabilities type specs may ask for.")


def _default_backends() -> list[VolumeBackendSettings]:
    return [VolumeBackendSettings(name="ssd", volume_backend_name="ssd", pools=2, capacity_gb=1000),
            VolumeBackendSettings(name="hdd", volume_backend_name="hdd", capacity_gb=10000, thin_provisioning=True)]


class VolumeSettings(VolumeSchedulerSettings):
    """The block storage service: its back ends (simulated in 'sim'), default type, quotas and timings, and its
    scheduler's filters and weighers (Cinder's option names, from :class:`VolumeSchedulerSettings`)."""

    backend: str = Field("sim", description="Storage agents to run in-process: 'sim' (simulated back ends), 'real' "
                         "(qcow2 files on this machine, one directory per back end, beside the real host agent; "
                         "what 'serve --backend real' runs) or 'none'.")
    backends: list[VolumeBackendSettings] = Field(default_factory=_default_backends,
                                                  description="The storage back ends and their pools.")
    default_volume_type: str = Field("__DEFAULT__", description="Type of volumes created without one.")
    default_availability_zone: str | None = Field(
        None, description="Zone of volumes created without one (Cinder's option); storage_availability_zone "
        "when unset.")
    storage_availability_zone: str = Field(
        "nova", description="Cinder's fallback zone for volumes created without one. When no back end is in the "
        "zone a volume would default to, it takes the first zone (by name) a back end is in.")
    quota_volumes: int = Field(10, ge=-1, description="Default volumes per project (-1: unlimited).")
    quota_gigabytes: int = Field(1000, ge=-1, description="Default GiB of volumes and snapshots per project.")
    quota_snapshots: int = Field(10, ge=-1, description="Default snapshots per project.")
    create_seconds: float = Field(1.0, ge=0, description="Median time a simulated back end takes to create a volume.")
    delete_seconds: float = Field(0.5, ge=0, description="Median time to delete a volume or a snapshot.")
    clone_gb_per_second: float = Field(10.0, gt=0, description="Copy speed of clones, snapshots and image downloads.")
    attach_seconds: float = Field(0.5, ge=0, description="Median time a host takes to connect or disconnect a volume.")
    jitter: float = Field(0.0, ge=0, description="Spread (lognormal sigma) of simulated times; 0 makes them fixed.")
    report_seconds: float = Field(10.0, gt=0, description="How often back ends report their pools' capacity.")
    operation_timeout: float = Field(300.0, gt=0, description="Seconds a back end may stay silent on a create, "
                                     "delete or extend before the volume is put in its error status.")
    seed: int = Field(0, description="Seed of the simulated back ends' random draws.")


class RealSettings(BaseModel):
    """The real host agent (``--backend real``, ``twinstack agent``): libvirt, and where disks and images live."""

    libvirt_uri: str = Field("qemu:///system", description="libvirt connection the real agent drives.")
    state_dir: Path = Field(Path("/var/lib/twinstack"), description="Instance disks and console logs "
                            "(instances/) and the base image cache (_base/).")
    image_store: Path | None = Field(None, description="Image data by id (a Glance file store); "
                                     "the image service's file stores when unset.")
    virt_type: str = Field("auto", description="'kvm', 'qemu' (TCG) or 'auto': kvm if a KVM guest starts at start-up.")
    host: str | None = Field(None, description="Host name the agent reports; the machine's hostname when unset.")
    reserved_host_memory_mb: int = Field(512, ge=0, description="Memory kept for the host itself.")
    cpu_allocation_ratio: float = Field(4.0, gt=0, description="vCPUs placement may give per host CPU.")
    heartbeat_seconds: float = Field(10.0, gt=0, description="Seconds between the agent's heartbeats.")
    clean_shutdown_seconds: float = Field(10.0, ge=0, description="Wait for a guest to power off before forcing it.")
    clouds_yaml: Path | None = Field(None, description="Credentials the agent uploads server snapshots to the "
                                     "image service with; <data_dir>/clouds.yaml (the admin's) when unset.")
    domain_prefix: str = Field("twinstack-", pattern=r"^[A-Za-z0-9_.-]+$", description="Libvirt domains are "
                               "named <prefix><instance uuid>; give each agent sharing one libvirt its own.")
    migration_dir: Path = Field(Path("/var/lib/twinstack/migrations"), description="Where a resize or cold "
                                "migration leaves the disk for the destination, and a live migration the guest's "
                                "saved state too: a directory every agent reaches.")
    tunnel_ip: str | None = Field(None, description="This host's VXLAN tunnel endpoint address (Neutron's "
                                  "local_ip): VXLAN networks reach the other hosts' ports from it. Unset: VXLAN "
                                  "networks stay on this host.")
    tunnel_port: int = Field(4789, ge=1, le=65535, description="UDP port of this host's tunnel endpoint; agents "
                             "sharing one machine need one each (the kernel holds one VXLAN device per VNI and "
                             "port).")
    storage_ip: str | None = Field(None, description="Address this host's storage back ends export volumes on "
                                   "(over NBD) to the guests of other hosts. Unset: the tunnel_ip, else 127.0.0.1 "
                                   "(only guests of this machine reach them).")
    nbd_port_min: int = Field(10809, ge=1, le=65535, description="Lowest port of the NBD exports (one per "
                              "volume attachment to a guest of another host).")
    nbd_port_max: int = Field(11808, ge=1, le=65535, description="Highest port of the NBD exports.")


class LoadBalancerSettings(BaseModel):
    """The load-balancing service's simulated data plane (Octavia's amphorae)."""

    amphora: str = Field("sim", description="Amphora driver run beside the conductor: 'sim' (simulated amphorae) or "
                         "'none' (no data plane: load-balancing changes are refused with 503).")
    resend_seconds: float = Field(10.0, gt=0, description="How often the worker looks for load balancers left "
                                  "PENDING_*: an apply never sent is sent, one unanswered this long is sent again.")
    apply_timeout: float = Field(300.0, gt=0, description="An apply unanswered this long after it was first sent "
                                 "fails: what was pending goes to ERROR (Octavia's revert).")
    apply_seconds: float = Field(0.5, ge=0, description="Median time a simulated amphora takes to apply a load "
                                 "balancer's configuration (create, update or delete).")
    jitter: float = Field(0.0, ge=0, description="Log-normal spread of that time (0: always the median).")
    seed: int = Field(0, description="Seed of the simulated amphorae's random draws.")
    pause_file: Path | None = Field(None, description="Simulation switch: while this file exists, the simulated "
                                    "amphorae hold the applies whose time is up (neither applied nor answered), "
                                    "as their pause(); lets a client see a served cloud's PENDING_* states for as "
                                    "long as it needs.")


class Settings(BaseSettings):
    """Every option of a Twinstack cloud, with its default and why it exists."""

    data_dir: Path = Field(Path("twinstack-data"), description="Where the cloud keeps its state.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; SQLite in the data directory when unset. "
        "A PostgreSQL URL (postgresql+psycopg://...) works the same.",
    )
    host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port the HTTP server listens on.")
    public_url: str | None = Field(
        None, description="Base URL clients reach the server at; http://host:port when unset."
    )
    region: str = Field("RegionOne", description="Region name in the service catalog.")
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    compute: ComputeSettings = Field(default_factory=ComputeSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    real: RealSettings = Field(default_factory=RealSettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    volume: VolumeSettings = Field(default_factory=VolumeSettings)
    loadbalancer: LoadBalancerSettings = Field(default_factory=LoadBalancerSettings)
    image: ImageSettings = Field(default_factory=ImageSettings)

    model_config = SettingsConfigDict(
        env_prefix="TWINSTACK_", env_nested_delimiter="__", toml_file="twinstack.toml", extra="forbid"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = os.environ.get("TWINSTACK_CONFIG", "twinstack.toml")
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_path))

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'twinstack.db').resolve()}"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the TOML file and the environment, with ``overrides`` taking precedence."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _entry_model(annotation: object) -> type[BaseModel] | None:
    """The model of each entry when ``annotation`` is ``list[Model]``; None otherwise."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is list and len(args) == 1:
        entry = args[0]
        if isinstance(entry, type) and issubclass(entry, BaseModel):
            return entry
    return None


def describe_settings(model: type[BaseModel] = Settings, prefix: str = "") -> list[tuple[str, str, str]]:
    """Every option as (dotted name, default, help), nested models flattened, for ``config show``.

    A list of entries (log handlers, image stores, volume back ends) is one option, followed by the
    options of each entry as ``<name>[].<option>`` (by the name written in TOML, e.g. ``class``).
    """
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{field.alias or name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(describe_settings(annotation, dotted + "."))
            continue
        if field.is_required():
            default = "(required)"
        else:
            value = field.get_default(call_default_factory=True)
            if isinstance(value, list) and value and isinstance(value[0], BaseModel):
                value = [d.model_dump(by_alias=True) for d in value]
            default = repr(value)
        rows.append((dotted, default, field.description or ""))
        entry = _entry_model(annotation)
        if entry is not None:
            rows.extend(describe_settings(entry, dotted + "[]."))
    return rows
