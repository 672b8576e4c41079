"""Identity throughput: token issue/s and token validation/s over real HTTP, plus the in-process cost.

    python -m benchmarks.identity [--seconds 10] [--concurrency 8] [--rounds 20000] [--json out.json]

Starts ``twinstack serve`` (one process, SQLite, default password KDF) on a free port, then drives
it from this process with ``--concurrency`` concurrent HTTP/1.1 clients for a fixed time per
figure. Both share this machine's cores, so the HTTP figures are a floor for the server alone.
Also times, in this process, what each service pays to validate a token locally (signature,
expiry, revocation check) — the figure that decides whether local validation pays off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.serving import Server, running_server
from benchmarks.stats import percentile


def password_body(auth: dict[str, Any]) -> dict[str, Any]:
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "domain": {"name": auth["user_domain_name"]}, "password": auth["password"]}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"name": auth["project_domain_name"]}}}}}


async def drive(seconds: float, concurrency: int, call: Any) -> dict[str, float]:
    """Run ``call(client)`` from ``concurrency`` workers for ``seconds``; rate and latency percentiles."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                ok = await call(client)
                latencies.append(time.perf_counter() - started)
                errors += 0 if ok else 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * percentile(ordered, 0.99),
        "errors": errors,
    }


async def token_calls(tokens_url: str, body: dict[str, Any]) -> dict[str, Any]:
    """The three token calls, each ``call(client) -> ok``, against any Identity v3 ``.../auth/tokens`` URL:
    issue (password, project scope, no catalog), validate (GET) and check (HEAD) of one token as the admin."""
    async with httpx.AsyncClient() as client:
        issued = await client.post(tokens_url, json=body)
        admin = issued.headers["X-Subject-Token"]
        subject = (await client.post(tokens_url, json=body)).headers["X-Subject-Token"]

    async def issue(client: httpx.AsyncClient) -> bool:
        return (await client.post(tokens_url, json=body, params={"nocatalog": "1"})).status_code == 201

    async def validate(client: httpx.AsyncClient) -> bool:
        response = await client.get(tokens_url, params={"nocatalog": "1"},
                                    headers={"X-Auth-Token": admin, "X-Subject-Token": subject})
        return response.status_code == 200

    async def check(client: httpx.AsyncClient) -> bool:
        response = await client.head(tokens_url, headers={"X-Auth-Token": admin, "X-Subject-Token": subject})
        return response.status_code == 200

    return {"token_issue": issue, "token_validate_GET": validate, "token_check_HEAD": check}


async def http_figures(server: Server, seconds: float, concurrency: int) -> dict[str, dict[str, float]]:
    calls = await token_calls(f"{server.url}/identity/v3/auth/tokens", password_body(server.admin_auth()))
    return {name: await drive(seconds, concurrency, call) for name, call in calls.items()}


def in_process_figures(rounds: int = 20000) -> dict[str, float]:
    """Microseconds per local validation: first sight of a token, then a token already seen."""
    from twinstack.cloud import open_cloud
    from twinstack.config import Settings
    from twinstack.core.identity.tokens import TokenPayload, new_audit_id

    with tempfile.TemporaryDirectory() as tmp:
        cloud = open_cloud(Settings(data_dir=Path(tmp)))
        now = cloud.clock.now()
        payloads = [TokenPayload(f"user{i}", "default", ("password",), now, now + 3600, (new_audit_id(),),
                                 project_id="p", project_domain_id="default",
                                 roles=(("r1", "member"), ("r2", "reader"))) for i in range(rounds)]
        tokens = [cloud.sealer.seal(p) for p in payloads]
        started = time.perf_counter()
        for token in tokens[: rounds // 4]:
            cloud.validator.validate(token)
        first_sight = (time.perf_counter() - started) / (rounds // 4) * 1e6
        hot = tokens[0]
        started = time.perf_counter()
        for _ in range(rounds):
            cloud.validator.validate(hot)
        cached = (time.perf_counter() - started) / rounds * 1e6
        started = time.perf_counter()
        for payload in payloads[: rounds // 4]:
            cloud.sealer.seal(payload)
        seal = (time.perf_counter() - started) / (rounds // 4) * 1e6
        cloud.close()
    return {"validate_first_sight_us": first_sight, "validate_cached_us": cached, "seal_us": seal,
            "token_bytes": float(len(tokens[0]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=20000,
                        help="in-process validations of the one token seen before (a quarter as many first sights)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    local = in_process_figures(args.rounds)
    with running_server() as server:
        remote = asyncio.run(http_figures(server, args.seconds, args.concurrency))
    print(f"{'figure':<22}{'per second':>12}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, row in remote.items():
        print(f"{name:<22}{row['per_second']:>12.1f}{row['p50_ms']:>10.2f}{row['p99_ms']:>10.2f}"
              f"{int(row['errors']):>8}")
    print()
    for name, value in local.items():
        print(f"{name:<26}{value:>10.1f}")
    if args.json:
        args.json.write_text(json.dumps({"http": remote, "in_process": local,
                                         "seconds": args.seconds, "concurrency": args.concurrency}, indent=2))


if __name__ == "__main__":
    main()
