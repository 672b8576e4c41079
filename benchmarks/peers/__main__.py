"""Side by side with OpenStack's own services: Twinstack against Keystone and Placement, same workload, one run.

    python -m benchmarks.peers [--providers 1000 10000] [--seconds 10] [--repeats 2] [--concurrency 8]
                               [--peer-processes 2] [--twinstack-only] [--tiny] [--json out.json]

Installs the peers (``keystone``, ``openstack-placement`` and ``uwsgi`` from PyPI) into their own venv
under ``~/.cache/twinstack-peers/venv`` (``--venv``; reused when present), sets each up on SQLite in a
temporary directory and serves it with uWSGI on a loopback port (``--peer-processes`` workers, one thread
each). Twinstack is ``twinstack serve --hosts 0`` (one process, SQLite, no compute hosts). Then, each figure
is measured on Twinstack, then on the peer, ``--repeats`` times alternating, and the median of the turns
is reported:

* Identity, driven by ``--concurrency`` concurrent HTTP/1.1 clients for ``--seconds`` per turn: token issue
  (password, project scope, ``nocatalog``) and token validation (``GET /v3/auth/tokens`` with
  ``X-Subject-Token``), the same admin user, project and role on both sides.
* Placement, for each size in ``--providers`` (both sides populated by the same ``POST /resource_providers``
  and ``PUT .../inventories`` calls, grown from one size to the next): ``GET /allocation_candidates``
  latency (every candidate, and ``limit=10``), one request at a time, and claims per second
  (``PUT /allocations/{consumer}``, one at a time); microversion 1.39 on both.
* Twinstack's scheduler, in process, at the same sizes: one full decision (every default filter and
  weigher, and the claim) from benchmarks/scheduler.py. OpenStack has no standalone equivalent to run here
  (Nova's scheduler needs the rest of Nova), so it has no peer figure.

The ratio is Twinstack/peer for rates and peer/Twinstack for latencies: above 1, Twinstack is ahead. The
load generator shares the machine's cores with both servers. ``--twinstack-only`` skips the peers (no
install): the smoke test's mode on a machine without a ready venv.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks import scheduler
from benchmarks.identity import drive, password_body, token_calls
from benchmarks.peers import install, servers
from benchmarks.peers.servers import Peer
from benchmarks.peers.workload import Call, Side, candidates, claims, populate
from benchmarks.serving import Server, running_server
from twinstack.core.scheduler.settings import SchedulerSettings

Row = dict[str, Any]


def alternate(figure: str, unit: str, turns: dict[str, Callable[[], dict[str, float]]], repeats: int,
              key: str) -> Row:
    """Measure each side in turn (Twinstack first), ``repeats`` times; the median of ``key`` per side."""
    seen: dict[str, list[dict[str, float]]] = {side: [] for side in turns}
    for _ in range(repeats):
        for side, measure in turns.items():
            seen[side].append(measure())
    row: Row = {"figure": figure, "unit": unit, "turns": seen}
    for side, results in seen.items():
        row[side] = statistics.median(r[key] for r in results)
        row[f"{side}_errors"] = sum(int(r["errors"]) for r in results)
    if "peer" in row and row["peer"] and row["twinstack"]:
        row["ratio"] = row["peer"] / row["twinstack"] if unit == "ms" else row["twinstack"] / row["peer"]
    print(f"  measured {figure}", file=sys.stderr, flush=True)
    return row


def turn(call: Call, seconds: float, concurrency: int) -> Callable[[], dict[str, float]]:
    return lambda: asyncio.run(drive(seconds, concurrency, call))


def identity_rows(twinstack: Server, peer: str | None, args: argparse.Namespace) -> list[Row]:
    auth = twinstack.admin_auth()
    body = password_body(auth)
    ours = asyncio.run(token_calls(f"{twinstack.url}/identity/v3/auth/tokens", body))
    theirs = asyncio.run(token_calls(f"{peer}/v3/auth/tokens", body)) if peer else {}
    rows = []
    for name, figure in (("token_issue", "token issue"), ("token_validate_GET", "token validation (GET)")):
        turns = {"twinstack": turn(ours[name], args.seconds, args.concurrency)}
        if peer:
            turns["peer"] = turn(theirs[name], args.seconds, args.concurrency)
        rows.append(alternate(f"Keystone: {figure}", "/s", turns, args.repeats, "per_second"))
    return rows


def placement_rows(sides: list[Side], args: argparse.Namespace) -> list[Row]:
    rows = []
    uuids = [str(uuid.UUID(int=i + 1)) for i in range(max(args.providers))]
    for size in sorted(args.providers):
        for side in sides:
            started = time.perf_counter()
            grown = size - len(side.providers)
            asyncio.run(populate(side, uuids[:size], args.concurrency))
            print(f"  {side.name}: {size} providers ({grown} created at {grown / (time.perf_counter() - started):.0f}"
                  "/s)", file=sys.stderr, flush=True)
        prefix = f"Placement {size} RPs: "
        for limit, label in ((None, "all"), (10, "limit 10")):
            expect = min(limit or size, size)
            rows.append(alternate(
                f"{prefix}GET /allocation_candidates ({label}) p50", "ms",
                {s.name: turn(candidates(s, limit, expect), args.seconds, 1) for s in sides}, args.repeats,
                "p50_ms"))
        rows.append(alternate(f"{prefix}claims (PUT /allocations)", "/s",
                              {s.name: turn(claims(s, size), args.seconds, 1) for s in sides}, args.repeats,
                              "per_second"))
    return rows


def scheduler_rows(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    weighers, _ = scheduler.SCENARIOS["spread"]
    for size in sorted(args.providers):
        rig = scheduler.build(size, 0.5, 1, SchedulerSettings(weighers=weighers, host_refresh_seconds=None))
        scheduler.run(rig, min(100, args.decisions), {})  # warm up
        timings = scheduler.run(rig, args.decisions, {})
        rows.append({"figure": f"Scheduler {size} hosts: full decision + claim p50", "unit": "ms",
                     "twinstack": 1000 * statistics.median(timings), "twinstack_errors": 0,
                     "decisions_per_s": len(timings) / sum(timings)})
        print(f"  measured scheduler at {size}", file=sys.stderr, flush=True)
    return rows


@contextmanager
def peers(args: argparse.Namespace, auth: dict[str, Any]) -> Iterator[tuple[Peer | None, Peer | None]]:
    if args.twinstack_only:
        yield None, None
        return
    venv = install.ensure_venv(args.venv)
    with ExitStack() as stack:
        keystone = stack.enter_context(servers.keystone(venv, auth["username"], auth["password"],
                                                        auth["project_name"], args.peer_processes))
        placement = stack.enter_context(servers.placement(venv, args.peer_processes))
        yield keystone, placement


def table(rows: list[Row]) -> str:
    lines = [f"{'figure':<62}{'unit':>5}{'Twinstack':>12}{'peer':>12}{'ratio':>8}"]
    for row in rows:
        peer = f"{row['peer']:>12.2f}" if "peer" in row else f"{'—':>12}"
        ratio = f"{row['ratio']:>8.2f}" if "ratio" in row else f"{'—':>8}"
        lines.append(f"{row['figure']:<62}{row['unit']:>5}{row['twinstack']:>12.2f}{peer}{ratio}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--providers", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per figure per side per turn")
    parser.add_argument("--repeats", type=int, default=2, help="alternating turns per figure")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (identity, populating)")
    parser.add_argument("--decisions", type=int, default=2000, help="scheduler decisions timed per size")
    parser.add_argument("--peer-processes", type=int, default=2, help="uWSGI worker processes per peer")
    parser.add_argument("--venv", type=Path, default=install.DEFAULT_VENV, help="the peers' venv (reused)")
    parser.add_argument("--twinstack-only", action="store_true", help="skip the peers: no install, no peer column")
    parser.add_argument("--tiny", action="store_true",
                        help="a seconds-long smoke run: 20 providers, 1 s a figure, one turn, 2 clients")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.tiny:
        args.providers, args.seconds, args.repeats, args.concurrency, args.decisions = [20], 1.0, 1, 2, 30
    started = time.monotonic()
    with running_server("--hosts", "0") as twinstack:
        auth = twinstack.admin_auth()
        with peers(args, auth) as (keystone, placement):
            rows = identity_rows(twinstack, keystone.url if keystone else None, args)
            token = httpx.post(f"{twinstack.url}/identity/v3/auth/tokens",
                               json=password_body(auth)).headers["X-Subject-Token"]
            sides = [Side("twinstack", f"{twinstack.url}/placement", {"X-Auth-Token": token}, twinstack.status)]
            if placement:
                sides.append(Side("peer", placement.url, {"X-Auth-Token": "admin"}, placement.status))
            rows += placement_rows(sides, args)
    rows += scheduler_rows(args)
    print(table(rows))
    if args.json:
        report = {"rows": rows, "seconds": args.seconds, "repeats": args.repeats, "concurrency": args.concurrency,
                  "peer_processes": args.peer_processes, "providers": args.providers,
                  "peers": None if args.twinstack_only else install.versions(args.venv),
                  "elapsed_s": time.monotonic() - started}
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
