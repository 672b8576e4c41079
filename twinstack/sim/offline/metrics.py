"""What a run measures: the fate of every request, and the fleet's state sampled at a fixed interval.

Requests are followed through the instance store's observer (every state the conductor writes), so counts
are exact: an arrival is an instance recorded; it is accepted when it first goes ACTIVE (its boot latency
is launched_at - created_at), refused when it goes to ERROR never having been placed (NoValidHost),
failed when it goes to ERROR after attempts on hosts, cancelled when deleted before either.

The fleet is read from the scheduler's own columns (:class:`HostState`) as the control plane sees it: a
host is up when enabled and heard from within ``service_down_time``. Utilisation is allocation over the
capacity of the hosts up. Capacity is *stranded* on a host that is up but fits no flavor of the workload's
mix: its free vCPU, RAM and disk can be used by nobody (fragmentation).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from twinstack.core.compute import states
from twinstack.core.compute.model import Instance
from twinstack.core.compute.stores import resources_of
from twinstack.core.scheduler.host_state import HostState, Mask
from twinstack.rpc.compute import FlavorSpec

RESOURCES = (("vcpu", "VCPU"), ("ram", "MEMORY_MB"), ("disk", "DISK_GB"))
BUILDING, ACTIVE, ERROR = 0, 1, 2


@dataclass
class Counts:
    arrivals: int = 0
    accepted: int = 0
    refused: int = 0
    failed: int = 0
    cancelled: int = 0
    deleted: int = 0
    lost: int = 0

    def minus(self, other: Counts) -> Counts:
        return Counts(**{k: v - getattr(other, k) for k, v in vars(self).items()})


@dataclass
class Series:
    """Columns of the time series, one entry per sample."""

    columns: dict[str, list[float]] = field(default_factory=dict)

    def add(self, row: dict[str, float]) -> None:
        for key, value in row.items():
            self.columns.setdefault(key, []).append(value)


class Metrics:
    def __init__(self, state: HostState, mix: list[FlavorSpec], service_down_time: float) -> None:
        self.state = state
        self.service_down_time = service_down_time
        self.counts = Counts()
        self.active = 0
        self.latencies = array("d")
        self.series = Series()
        self.zone_rows: list[dict[str, Any]] = []
        self._phase: dict[str, int] = {}
        self.by_workload: dict[str, Counts] = {}
        """The same counts per workload entry (read from the ``workload`` metadata the users set)."""
        self._last = Counts()
        self._mix = [resources_of(flavor) for flavor in mix]
        self._rack_util: npt.NDArray[np.float64] | None = None
        self._rack_down: npt.NDArray[np.float64] | None = None
        self._rack_samples = 0

    # requests ------------------------------------------------------------------------------------

    def observe(self, instance: Instance) -> None:
        """Called with every instance the conductor or the API saves."""
        uuid, vm_state, counts = instance.uuid, instance.vm_state, self.counts
        before = self._phase.get(uuid)
        if vm_state == states.DELETED:
            self._phase.pop(uuid, None)
            counts.deleted += 1
            if before == ACTIVE:
                self.active -= 1
            elif before == BUILDING:
                counts.cancelled += 1
            return
        if before is not None and not (vm_state == states.ACTIVE and before == BUILDING) and not (
                vm_state == states.ERROR and before != ERROR):
            return  # no change of phase (most saves: spawning, deleting): nothing to count
        source = self.by_workload.get(instance.metadata.get("workload", ""))
        if source is None:
            source = self.by_workload[instance.metadata.get("workload", "")] = Counts()
        if before is None:
            counts.arrivals += 1
            source.arrivals += 1
            before = self._phase[uuid] = BUILDING
        if vm_state == states.ACTIVE and before == BUILDING:
            self._phase[uuid] = ACTIVE
            counts.accepted += 1
            source.accepted += 1
            self.active += 1
            self.latencies.append((instance.launched_at or instance.created_at) - instance.created_at)
        elif vm_state == states.ERROR and before != ERROR:
            self._phase[uuid] = ERROR
            if before == ACTIVE:
                self.active -= 1
                counts.failed += 1
            elif instance.attempts == 0:
                counts.refused += 1
                source.refused += 1
            else:
                counts.failed += 1
                source.failed += 1

    def lost(self, count: int) -> None:
        self.counts.lost += count

    @property
    def in_flight(self) -> int:
        return sum(1 for phase in self._phase.values() if phase == BUILDING)

    # the fleet -----------------------------------------------------------------------------------

    def up_mask(self, now: float) -> Mask:
        state = self.state
        up: Mask = state.eligible & (state.last_heartbeat >= now - self.service_down_time)
        return up

    def sample(self, now: float) -> None:
        state = self.state
        up = self.up_mask(now)
        fits_any = np.zeros(state.n, dtype=np.bool_)
        for resources in self._mix:
            fits = np.ones(state.n, dtype=np.bool_)
            for rc, amount in resources.items():
                rc_row = state.resource_classes.get(rc)
                if rc_row is None:
                    fits[:] = False
                    break
                fits &= state.free[rc_row] >= amount
            fits_any |= fits
        stranded_hosts = up & ~fits_any
        delta = self.counts.minus(self._last)
        self._last = Counts(**vars(self.counts))
        row: dict[str, float] = {
            "time": now, "day": now / 86400.0, "hosts_up": int(up.sum()), "hosts": state.n,
            "active": self.active, "arrivals": delta.arrivals, "accepted": delta.accepted,
            "refused": delta.refused, "failed": delta.failed, "lost": delta.lost,
            "stranded_hosts": int(stranded_hosts.sum()),
            "over_capacity_hosts": int((state.used > state.capacity).any(axis=0).sum()),
        }
        zones = len(state.zones)
        zone_up = np.bincount(state.zone[up], minlength=zones)
        zone_rows: dict[int, dict[str, Any]] = {
            z: {"time": now, "zone": state.zones.names[z], "hosts_up": int(zone_up[z])} for z in range(zones)
            if np.any(state.zone == z)}
        racks = len(state.racks)
        rack_codes = state.rack
        if self._rack_util is None:
            self._rack_util = np.zeros((len(RESOURCES), racks))
            self._rack_down = np.zeros(racks)
        for k, (short, rc) in enumerate(RESOURCES):
            r = state.resource_classes.get(rc)
            if r is None:
                continue
            capacity = float(state.capacity[r][up].sum())
            used = float(state.used[r][up].sum())
            stranded = float(np.clip(state.free[r][stranded_hosts], 0, None).sum())
            row[f"{short}_capacity"] = capacity
            row[f"{short}_used"] = used
            row[f"{short}_util"] = used / capacity if capacity else 0.0
            row[f"{short}_stranded"] = stranded / capacity if capacity else 0.0
            zone_cap = np.bincount(state.zone[up], weights=state.capacity[r][up], minlength=zones)
            zone_used = np.bincount(state.zone[up], weights=state.used[r][up], minlength=zones)
            for z, zone_row in zone_rows.items():
                zone_row[f"{short}_util"] = float(zone_used[z] / zone_cap[z]) if zone_cap[z] else 0.0
            if racks:
                placed = rack_codes >= 0
                in_rack = placed & up
                rack_cap = np.bincount(rack_codes[in_rack], weights=state.capacity[r][in_rack], minlength=racks)
                rack_used = np.bincount(rack_codes[in_rack], weights=state.used[r][in_rack], minlength=racks)
                self._rack_util[k] += np.divide(rack_used, rack_cap, out=np.zeros(racks), where=rack_cap > 0)
        if racks and self._rack_down is not None:
            down = (state.rack >= 0) & ~up
            self._rack_down += np.bincount(state.rack[down], minlength=racks)
            self._rack_samples += 1
        self.series.add(row)
        self.zone_rows.extend(zone_rows.values())

    def rack_rows(self, sample_every: float) -> list[dict[str, Any]]:
        """Per rack: hosts, zone, mean utilisation over the samples, host-hours down (sampled)."""
        state = self.state
        if self._rack_util is None or self._rack_down is None or not self._rack_samples:
            return []
        rows = []
        for code, name in enumerate(state.racks.names):
            members = np.flatnonzero(state.rack == code)
            row: dict[str, Any] = {"rack": name, "zone": state.zones.names[int(state.zone[members[0]])],
                                   "hosts": len(members)}
            for k, (short, _rc) in enumerate(RESOURCES):
                row[f"mean_{short}_util"] = float(self._rack_util[k][code] / self._rack_samples)
            row["host_hours_down"] = float(self._rack_down[code] * sample_every / 3600.0)
            rows.append(row)
        return rows

    # summary -------------------------------------------------------------------------------------

    def latency_summary(self) -> dict[str, float]:
        if not self.latencies:
            return {"count": 0}
        values = np.frombuffer(self.latencies, dtype=np.float64)
        p50, p90, p99 = np.percentile(values, [50, 90, 99]).tolist()
        return {"count": len(values), "mean": float(values.mean()), "p50": p50, "p90": p90, "p99": p99,
                "max": float(values.max())}

    def latency_histogram(self, bins: int = 40) -> list[dict[str, float]]:
        if not self.latencies:
            return []
        values = np.frombuffer(self.latencies, dtype=np.float64)
        high = float(np.percentile(values, 99.9))
        low = float(values.min())
        if high <= low:
            high = low + 1.0
        counts, edges = np.histogram(np.clip(values, low, high), bins=bins, range=(low, high))
        return [{"low": float(edges[i]), "high": float(edges[i + 1]), "count": int(counts[i])} for i in range(bins)]

    def utilisation_summary(self, warmup: float) -> dict[str, dict[str, float]]:
        columns = self.series.columns
        times = columns.get("time", [])
        keep = [i for i, t in enumerate(times) if t >= warmup] or list(range(len(times)))
        result: dict[str, dict[str, float]] = {}
        for short, _rc in RESOURCES:
            util = [columns.get(f"{short}_util", [0.0] * len(times))[i] for i in keep]
            stranded = [columns.get(f"{short}_stranded", [0.0] * len(times))[i] for i in keep]
            result[short] = {"mean_util": _mean(util), "peak_util": max(util, default=0.0),
                             "mean_stranded": _mean(stranded), "peak_stranded": max(stranded, default=0.0)}
        return result


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0
