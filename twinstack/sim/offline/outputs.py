"""A run's output folder: metrics as JSON and CSV, and the report, written all at once or not at all.

Everything is rendered in memory first, then written into a temporary folder beside the target, which is
renamed into place (an older folder of that name is moved aside first and removed after): a failure at any
point leaves either the previous folder or none, never a half-written one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from twinstack.sim.offline.run import RunResult


def clean(value: Any) -> Any:
    """JSON-safe: infinities and NaN become None (JSON has no spelling for them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def to_json(value: Any) -> str:
    return json.dumps(clean(value), indent=2, allow_nan=False) + "\n"


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    buffer = io.StringIO()
    names = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    return repr(value) if isinstance(value, float) else value


def series_rows(series: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
    names = list(series)
    length = len(series[names[0]]) if names else 0
    return [{name: series[name][i] for name in names} for i in range(length)]


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"


def run_files(result: RunResult, prefix: str = "") -> dict[str, str]:
    """The metric files of one run, under ``prefix``."""
    return {
        f"{prefix}summary.json": to_json(result.summary),
        f"{prefix}metrics.json": to_json({"summary": result.summary, "timeseries": result.series,
                                          "zones": result.zones, "racks": result.racks,
                                          "boot_latency_histogram": result.latency_histogram,
                                          "failures": result.failures}),
        f"{prefix}timeseries.csv": to_csv(series_rows(result.series)),
        f"{prefix}zones.csv": to_csv(result.zones),
        f"{prefix}racks.csv": to_csv(result.racks),
        f"{prefix}boot_latency.csv": to_csv(result.latency_histogram, ["low", "high", "count"]),
        f"{prefix}failures.csv": to_csv(result.failures, ["time", "kind", "target", "hosts", "instances_lost"]),
    }


def write_atomically(out: Path, files: Mapping[str, str]) -> None:
    """Write ``files`` (relative path -> text) as the folder ``out``, replacing any folder there, atomically."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        for name, text in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "previous")
        os.replace(staging, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
