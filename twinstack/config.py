"""The one typed settings object of a Twinstack cloud.

Read, in rising priority, from the defaults below, a TOML file (``twinstack.toml`` in the working
directory, or the file named by ``TWINSTACK_CONFIG``) and ``TWINSTACK_*`` environment variables
(nested fields joined by ``__``, e.g. ``TWINSTACK_IDENTITY__TOKEN_TTL_SECONDS``). Nothing reads the
environment except :func:`load_settings`; everything else receives a ``Settings``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


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
        None, description="Most entities one identity list returns (then 'truncated': true)."
    )


class ComputeSettings(BaseModel):
    backend: str = Field("sim", description="Host agents to run in-process: 'sim' (simulated hosts) or 'none'.")
    hosts: int = Field(100, ge=0, description="Simulated hosts when no datacenter file is given.")
    datacenter: Path | None = Field(None, description="YAML datacenter file describing the simulated hosts.")
    speed: float = Field(1.0, gt=0, description="Live simulation speed-up: virtual seconds per wall second.")
    seed: int = Field(0, description="Seed of the simulated hosts' random draws.")
    max_attempts: int = Field(3, ge=1, description="Hosts tried for one build before it ends in ERROR.")
    build_timeout: float = Field(600.0, gt=0, description="Seconds a host may take to answer a command.")
    service_down_time: float = Field(60.0, gt=0, description="Seconds without heartbeat before a host is down.")


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
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    compute: ComputeSettings = Field(default_factory=ComputeSettings)

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


def describe_settings(model: type[BaseModel] = Settings, prefix: str = "") -> list[tuple[str, str, str]]:
    """Every option as (dotted name, default, help), nested models flattened, for ``config show``."""
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        dotted = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(describe_settings(annotation, dotted + "."))
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list) and default and isinstance(default[0], BaseModel):
            default = [d.model_dump(by_alias=True) for d in default]
        rows.append((dotted, repr(default), field.description or ""))
    return rows
