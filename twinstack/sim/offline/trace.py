"""Trace files: recorded requests to replay (CSV with a header), checked row by row with line numbers.

Columns: ``submit_time`` (seconds from the start, or with a unit such as ``2h``); either ``flavor`` (a
catalog name) or ``vcpus``, ``ram_mb`` and ``disk_gb``; optionally ``lifetime`` (empty or ``inf``: never
deleted) and ``availability_zone``. Rows come in submit order.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from twinstack.rpc.compute import FlavorSpec
from twinstack.sim.offline.durations import parse_duration


class TraceError(ValueError):
    def __init__(self, path: Path, line: int | None, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")
        self.path = path
        self.line = line
        self.message = message


@dataclass(frozen=True)
class TraceRow:
    submit_time: float
    flavor: FlavorSpec
    lifetime: float
    availability_zone: str | None


def _flavor(row: Mapping[str, str], catalog: Mapping[str, FlavorSpec]) -> FlavorSpec:
    name = (row.get("flavor") or "").strip()
    if name:
        if name not in catalog:
            raise ValueError(f"flavor {name!r} is not in the scenario's catalog")
        return catalog[name]
    try:
        vcpus, ram, disk = (int((row.get(k) or "").strip() or "0") for k in ("vcpus", "ram_mb", "disk_gb"))
    except ValueError as exc:
        raise ValueError("vcpus, ram_mb and disk_gb are whole numbers") from exc
    if vcpus <= 0 or ram <= 0 or disk < 0:
        raise ValueError("a row names a flavor, or gives vcpus and ram_mb (positive) and disk_gb")
    return FlavorSpec(id=f"trace-{vcpus}-{ram}-{disk}", name=f"{vcpus}c{ram}m{disk}g", vcpus=vcpus, ram_mb=ram,
                      disk_gb=disk)


def read_trace(path: Path, catalog: Mapping[str, FlavorSpec]) -> Iterator[TraceRow]:
    """The rows of the trace, lazily; TraceError (with the line) at the first bad one."""
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise TraceError(path, None, f"cannot read trace: {exc.strerror}") from exc
    with handle:
        reader = csv.DictReader(handle)
        fields = set(reader.fieldnames or [])
        if "submit_time" not in fields or not ({"flavor"} <= fields or {"vcpus", "ram_mb"} <= fields):
            raise TraceError(path, 1, "the header needs submit_time and flavor (or vcpus, ram_mb, disk_gb)")
        last = 0.0
        for row in reader:
            line = reader.line_num
            try:
                submit = parse_duration((row.get("submit_time") or "").strip())
                flavor = _flavor(row, catalog)
                text = (row.get("lifetime") or "").strip()
                lifetime = math.inf if text in ("", "inf") else parse_duration(text)
            except ValueError as exc:
                raise TraceError(path, line, str(exc)) from exc
            if submit < last:
                raise TraceError(path, line, f"submit_time {submit:g} comes before the previous row's {last:g}")
            last = submit
            zone = (row.get("availability_zone") or "").strip() or None
            yield TraceRow(submit, flavor, lifetime, zone)


def check_trace(path: Path, catalog: Mapping[str, FlavorSpec]) -> int:
    """Read the whole trace once (before a run starts, so a bad row stops it early); returns the row count."""
    return sum(1 for _ in read_trace(path, catalog))
