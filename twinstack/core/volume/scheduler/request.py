"""What one volume asks of the scheduler."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class VolumeRequest:
    """A volume of ``size_gb`` of a type with ``extra_specs``, in ``availability_zone`` if given; ``only_backend``
    confines it to the back end (``host@backend``) of a source it is cloned from."""

    size_gb: int
    extra_specs: Mapping[str, Any] = field(default_factory=dict)
    availability_zone: str | None = None
    only_backend: str | None = None
