"""Every benchmark, one after another, and one summary table of their headline figures.

    python -m benchmarks.run_all [--tiny] [--only scheduler simulator ...] [--out benchmarks/results/all]

Each benchmark runs in its own process (so none inherits another's memory or caches) with ``--json`` into
``--out``; this script then reads those files back and prints, per benchmark, the figures the issues set
goals for. ``--tiny`` passes each one its seconds-long smoke size (what CI runs): the figures are then only a
sign that the benchmark works, never a measurement. Full runs take a while (the load benchmark alone fills a
cloud with 10,000 servers on two databases): choose with ``--only``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Row = tuple[str, str, str]
"""(benchmark, figure, value as printed)"""

TINY: dict[str, list[str]] = {
    "identity": ["--seconds", "1", "--concurrency", "2", "--rounds", "2000"],
    "placement": ["--providers", "20", "--rounds", "3", "--claims", "3"],
    "scheduler": ["--hosts", "50", "200", "--decisions", "30"],
    "simulator": ["--hosts", "50", "--days", "1", "--per-host", "2"],
    "registration": ["--tiny"],
    "load": ["--tiny", "--databases", "sqlite"],
    "build_transactions": ["--servers", "5", "--hosts", "5", "--database", "sqlite"],
    "api_create": ["--creates", "10"],
}
ORDER = ["scheduler", "simulator", "placement", "registration", "build_transactions", "identity", "api_create",
         "load"]


def _scheduler(figures: list[dict[str, Any]]) -> list[Row]:
    return [("scheduler", f"{f['hosts']:,} hosts, {f['scenario']}: decision+claim median / p99",
             f"{f['median_us']:.0f} µs / {f['p99_us']:.0f} µs ({f['decisions_per_s']:,.0f}/s)") for f in figures]


def _simulator(figures: list[dict[str, Any]]) -> list[Row]:
    return [("simulator", f"{f['hosts']:,} hosts, {f['days']:g} days, {f['requests']:,} requests",
             f"{f['wall_s']:.1f} s wall, {f['requests_per_wall_s']:,} req/s, {f['peak_rss_mib']:,} MiB peak")
            for f in figures]


def _placement(figures: list[dict[str, Any]]) -> list[Row]:
    return [("placement", f"{f['where']} {f['providers']:,} providers: {f['figure']}",
             f"p50 {f['p50_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms, {f['per_second']:,.1f}/s") for f in figures]


def _registration(figures: list[dict[str, Any]]) -> list[Row]:
    return [("registration", f"{f['database']} {f['hosts']:,} hosts, {f['figure']}",
             f"{f['seconds']:.2f} s, {f['statements']:,} statements") for f in figures]


def _identity(figures: dict[str, Any]) -> list[Row]:
    return [("identity", f"http {name} ({figures['concurrency']} clients)",
             f"{row['per_second']:,.1f}/s, p99 {row['p99_ms']:.1f} ms, {int(row['errors'])} errors")
            for name, row in figures["http"].items()]


def _load(figures: list[dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for f in figures:
        extra = f.get("extra", {})
        active = f", {extra['active_per_s']:.1f} ACTIVE/s" if "active_per_s" in extra else ""
        rows.append(("load", f"{f['database']} {f['scenario']}, {f['users']} users",
                     f"{f['per_second']:.1f}/s, p99 {f['p99_ms']:.0f} ms, {f['errors']} errors{active}"))
    return rows


def _build_transactions(figures: list[dict[str, Any]]) -> list[Row]:
    return [("build_transactions", f"{f['database']} {f['servers']} servers on {f['hosts']} hosts: per server",
             f"{f['transactions_per_server']:.1f} transactions, {f['statements_per_server']:.1f} statements, "
             f"{f['plane_cpu_ms_per_server']:.2f} ms of the plane's CPU") for f in figures]


def _api_create(figures: dict[str, Any]) -> list[Row]:
    return [("api_create", f"{figures['database']} {figures['creates']} creates, the API alone",
             f"{figures['server_cpu_ms_per_create']:.2f} ms of server CPU a create, "
             f"p50 {figures['latency_p50_ms']:.1f} ms")]


SUMMARIES: dict[str, Callable[[Any], list[Row]]] = {
    "scheduler": _scheduler, "simulator": _simulator, "placement": _placement,
    "registration": _registration, "identity": _identity,
    "load": _load, "build_transactions": _build_transactions, "api_create": _api_create,
}


def run(benchmark: str, out: Path, tiny: bool) -> tuple[list[Row], float]:
    target = out / f"{benchmark}.json"
    command = [sys.executable, "-m", f"benchmarks.{benchmark}", *(TINY[benchmark] if tiny else []),
               "--json", str(target)]
    print(f"$ {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return SUMMARIES[benchmark](json.loads(target.read_text())), time.perf_counter() - started


def print_summary(rows: list[Row]) -> None:
    width = max(len(figure) for _, figure, _ in rows)
    names = max(len("benchmark"), *(len(benchmark) for benchmark, _, _ in rows)) + 2
    print(f"\n{'benchmark':<{names}}{'figure':<{width + 2}}value")
    for benchmark, figure, value in rows:
        print(f"{benchmark:<{names}}{figure:<{width + 2}}{value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="every benchmark at its smoke size (seconds)")
    parser.add_argument("--only", nargs="+", choices=ORDER, default=ORDER)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/all"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    for benchmark in [b for b in ORDER if b in args.only]:
        found, seconds = run(benchmark, args.out, args.tiny)
        rows += found
        rows.append((benchmark, "(this benchmark's own run time)", f"{seconds:.0f} s"))
    print_summary(rows)
    (args.out / "summary.json").write_text(json.dumps(
        [{"benchmark": b, "figure": f, "value": v} for b, f, v in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
