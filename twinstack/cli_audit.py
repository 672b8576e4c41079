"""``twinstack audit``: find (and with ``--repair`` fix) what crashes and lost messages leaked in a cloud's records.

Works on the cloud's database directly, beside a running cloud, as ``nova-manage placement audit`` does. Exit
status: 0 when nothing leaks (or everything found was repaired), 1 when leaks are left, so a cron job or a test
can tell. What each check finds and how it repairs: :mod:`twinstack.core.audit`.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from twinstack.cli_options import DatabaseUrl, DataDir, database_sessions
from twinstack.core.audit.findings import AuditReport

SLACK_SECONDS = 30.0
"""Added to the build timeout for the default ``--stuck-after``: the conductor checks its deadlines every few
seconds, so an instance whose command just timed out may wait that long to be updated."""


def audit(
    repair: Annotated[bool, typer.Option("--repair", help="Repair every leak found (safe to run again).")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    stuck_after: Annotated[float | None, typer.Option(
        help="Seconds an instance may stay building or in a task before it counts as stuck "
             "(default: compute.build_timeout + 30).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Report leaked allocations, ports, addresses, volume attachments and stuck instances; --repair fixes them."""
    from twinstack.core.audit.findings import AuditContext
    from twinstack.core.audit.run import run_audit
    from twinstack.core.volume.service import VolumeService
    from twinstack.wallclock import WallClock

    with database_sessions(data_dir, database_url) as (settings, sessions):
        clock = WallClock()
        wait = stuck_after if stuck_after is not None else settings.compute.build_timeout + SLACK_SECONDS
        report = run_audit(sessions, AuditContext(now=clock.now(), stuck_after=wait), repair,
                           VolumeService(sessions, clock, settings.volume))
    if json_output:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print(report)
    raise typer.Exit(1 if report.left else 0)


def _print(report: AuditReport) -> None:
    if report.clean:
        typer.echo("No leaks found.")
        return
    for finding in report.findings:
        outcome = f"  -> {finding.action}" if finding.action else ("" if finding.repairable else "  (not repairable)")
        typer.echo(f"{finding.check:<20} {finding.detail}{outcome}")
    verb = "repaired" if report.repaired else "found"
    typer.echo(f"{len(report.findings)} leak(s) {verb}; {len(report.left)} left.")
