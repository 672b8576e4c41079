"""The HTML report: one self-contained page (inline CSS and SVG) for one run, a comparison, or a sweep.

What a capacity planner reads first comes first: the answers (refusals, utilisation, stranded capacity, boot
times) side by side, then the curves over time, then the breakdowns by zone and rack, then the failures.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from twinstack.sim.offline.run import RunResult
from twinstack.sim.offline.svg import Line, bar_chart, line_chart

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1000px;color:#222}
h1{font-size:1.6em;margin-bottom:0} h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:4px}
p.lead{color:#555;margin-top:4px} table{border-collapse:collapse;margin:8px 0;font-size:0.92em}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right} th:first-child,td:first-child{text-align:left}
thead th{background:#f4f4f4} .warn{background:#fff4e5;border-left:4px solid #f0a030;padding:6px 10px}
.ok{color:#1a7f37;font-weight:600} .bad{color:#c62828;font-weight:600}
svg.chart{display:block;margin:10px 0} svg .title{font-weight:600;font-size:13px}
svg .tick,svg .legend{font-size:11px;fill:#444} svg .axis{font-size:11px;fill:#666}
svg .plot{fill:#fcfcfc;stroke:#ccc} svg .grid{stroke:#eee}
"""


@dataclass
class SweepInfo:
    """A sweep's curve: the parameter, the metric and target, and every point evaluated."""

    parameter: str
    metric: str
    target: str
    points: list[tuple[float, float, bool]] = field(default_factory=list)
    """(parameter value, metric value, meets the target), in parameter order"""
    answer: float | None = None


def _pct(value: float) -> str:
    return f"{value * 100:.2f}%"


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


ROWS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("hosts", lambda s: f"{s['hosts']:,}"),
    ("simulated days", lambda s: f"{s['duration_days']:g}"),
    ("requests (instances)", lambda s: f"{s['requests']['arrivals']:,}"),
    ("accepted", lambda s: f"{s['requests']['accepted']:,}"),
    ("refused (no valid host)", lambda s: f"{s['requests']['refused']:,}"),
    ("refusal rate", lambda s: _pct(s["refusal_rate"])),
    ("failed builds", lambda s: f"{s['requests']['failed']:,}"),
    ("instances lost to failures", lambda s: f"{s['requests']['lost']:,}"),
    ("mean vCPU utilisation", lambda s: _pct(s["utilisation"]["vcpu"]["mean_util"])),
    ("mean RAM utilisation", lambda s: _pct(s["utilisation"]["ram"]["mean_util"])),
    ("mean disk utilisation", lambda s: _pct(s["utilisation"]["disk"]["mean_util"])),
    ("peak RAM utilisation", lambda s: _pct(s["utilisation"]["ram"]["peak_util"])),
    ("mean stranded vCPU", lambda s: _pct(s["utilisation"]["vcpu"]["mean_stranded"])),
    ("mean stranded RAM", lambda s: _pct(s["utilisation"]["ram"]["mean_stranded"])),
    ("boot p50 (s)", lambda s: _num(s["boot_latency_seconds"].get("p50", 0.0))),
    ("boot p99 (s)", lambda s: _num(s["boot_latency_seconds"].get("p99", 0.0))),
    ("host failures", lambda s: f"{s['failures']['events'].get('host_failure', 0):,}"),
    ("rack power losses", lambda s: f"{s['failures']['events'].get('rack_power_loss', 0):,}"),
]


def _summary_table(results: Sequence[RunResult]) -> str:
    head = "".join(f"<th>{html.escape(r.name)}</th>" for r in results)
    body = []
    for label, cell in ROWS:
        body.append(f"<tr><td>{html.escape(label)}</td>"
                    + "".join(f"<td>{html.escape(cell(r.summary))}</td>" for r in results) + "</tr>")
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _workload_table(results: Sequence[RunResult]) -> str:
    rows = []
    for r in results:
        for name, c in r.summary.get("by_workload", {}).items():
            rows.append(f"<tr><td>{html.escape(r.name)}</td><td>{html.escape(name)}</td><td>{c['arrivals']:,}</td>"
                        f"<td>{c['accepted']:,}</td><td>{c['refused']:,}</td><td>{c['failed']:,}</td>"
                        f"<td>{_pct(c['refusal_rate'])}</td></tr>")
    return ("<table><thead><tr><th>run</th><th>workload</th><th>requests</th><th>accepted</th><th>refused</th>"
            f"<th>failed</th><th>refusal rate</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _days(result: RunResult) -> list[float]:
    return list(result.series.get("day", []))


def _overlay(results: Sequence[RunResult], column: str, title: str, y_label: str, percent: bool = False,
             y_max: float | None = None) -> str:
    lines = [Line(r.name, _days(r), r.series.get(column, [])) for r in results]
    return line_chart(title, lines, "day", y_label, percent, y_max)


def _run_charts(result: RunResult, alone: bool) -> list[str]:
    s, days = result.series, _days(result)
    charts = []
    if alone:
        charts.append(line_chart("Utilisation of the hosts up", [
            Line("vCPU", days, s.get("vcpu_util", [])), Line("RAM", days, s.get("ram_util", [])),
            Line("disk", days, s.get("disk_util", []))], "day", "allocated / capacity", True, 1.0))
        charts.append(line_chart("Active instances", [Line("active", days, s.get("active", []))], "day",
                                 "instances"))
        charts.append(line_chart("Arrivals and refusals per sample interval", [
            Line("arrivals", days, s.get("arrivals", [])), Line("accepted", days, s.get("accepted", [])),
            Line("refused", days, s.get("refused", [])), Line("failed", days, s.get("failed", []))],
            "day", "instances"))
        charts.append(line_chart("Stranded capacity (free, but fits no flavor of the mix)", [
            Line("vCPU", days, s.get("vcpu_stranded", [])), Line("RAM", days, s.get("ram_stranded", [])),
            Line("disk", days, s.get("disk_stranded", []))], "day", "share of capacity up", True))
        charts.append(_latency_chart([result]))
    zones = sorted({row["zone"] for row in result.zones})
    if zones:
        charts.append(line_chart("RAM utilisation per availability zone", [
            Line(zone, [row["time"] / 86400.0 for row in result.zones if row["zone"] == zone],
                 [row["ram_util"] for row in result.zones if row["zone"] == zone]) for zone in zones],
            "day", "allocated / capacity", True, 1.0))
        charts.append(line_chart("Hosts up per availability zone", [
            Line(zone, [row["time"] / 86400.0 for row in result.zones if row["zone"] == zone],
                 [row["hosts_up"] for row in result.zones if row["zone"] == zone]) for zone in zones],
            "day", "hosts"))
    if result.racks:
        names = [row["rack"] for row in result.racks]
        charts.append(bar_chart("Mean utilisation per rack", names, [
            ("vCPU", [row["mean_vcpu_util"] for row in result.racks]),
            ("RAM", [row["mean_ram_util"] for row in result.racks])], "allocated / capacity", True))
        if any(row["host_hours_down"] for row in result.racks):
            charts.append(bar_chart("Host-hours down per rack", names, [
                ("down", [row["host_hours_down"] for row in result.racks])], "host-hours"))
    charts.append(line_chart("Failures: hosts up, and instances lost per interval", [
        Line("hosts up", days, s.get("hosts_up", [])), Line("instances lost", days, s.get("lost", []))],
        "day", "hosts / instances"))
    return charts


def _latency_chart(results: Sequence[RunResult]) -> str:
    lines = []
    for r in results:
        bins = r.latency_histogram
        total = sum(b["count"] for b in bins) or 1
        lines.append(Line(r.name, [(b["low"] + b["high"]) / 2 for b in bins], [b["count"] / total for b in bins]))
    return line_chart("Boot latency distribution (request to ACTIVE)", lines, "seconds", "share of boots", True)


def _failures_table(result: RunResult, limit: int = 50) -> str:
    rows = [f for f in result.failures if f["kind"] in ("host_failure", "rack_power_loss")]
    if not rows:
        return "<p>No failures were injected.</p>"
    body = "".join(f"<tr><td>{html.escape(f['kind'])}</td><td>{f['time'] / 3600:.1f}</td>"
                   f"<td>{html.escape(f['target'])}</td><td>{f['hosts']}</td><td>{f['instances_lost']}</td></tr>"
                   for f in rows[:limit])
    more = f"<p>… and {len(rows) - limit} more in failures.csv.</p>" if len(rows) > limit else ""
    return ("<table><thead><tr><th>failure</th><th>hour</th><th>target</th><th>hosts</th><th>instances lost</th>"
            f"</tr></thead><tbody>{body}</tbody></table>{more}")


def _sweep_section(sweep: SweepInfo) -> str:
    xs = [p[0] for p in sweep.points]
    chart = line_chart(f"{sweep.metric} against {sweep.parameter}", [
        Line(sweep.metric, xs, [p[1] for p in sweep.points])], sweep.parameter, sweep.metric)
    rows = "".join(f"<tr><td>{x:g}</td><td>{y:.5g}</td><td class=\"{'ok' if ok else 'bad'}\">"
                   f"{'meets' if ok else 'misses'}</td></tr>" for x, y, ok in sweep.points)
    answer = (f"<p class=\"ok\">Smallest {html.escape(sweep.parameter)} meeting {html.escape(sweep.target)}: "
              f"{sweep.answer:g}</p>" if sweep.answer is not None else
              f"<p class=\"bad\">No value in the range meets {html.escape(sweep.target)}.</p>")
    return (f"<h2>Sweep: {html.escape(sweep.parameter)} for {html.escape(sweep.target)}</h2>{answer}{chart}"
            f"<table><thead><tr><th>{html.escape(sweep.parameter)}</th><th>{html.escape(sweep.metric)}</th>"
            f"<th>target</th></tr></thead><tbody>{rows}</tbody></table>")


def render(results: Sequence[RunResult], title: str, sweep: SweepInfo | None = None) -> str:
    """The whole page. One result: its charts. Several: the shared charts overlaid, then each run's details."""
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    descriptions = [r.summary.get("description") for r in results if r.summary.get("description")]
    if descriptions:
        parts.append(f"<p class=\"lead\">{html.escape(str(descriptions[0]))}</p>")
    for r in results:
        for warning in r.summary.get("warnings", []):
            parts.append(f"<p class=\"warn\">{html.escape(r.name)}: {html.escape(warning)}</p>")
    if sweep is not None:
        parts.append(_sweep_section(sweep))
    parts.append("<h2>Answers</h2>")
    parts.append(_summary_table(results))
    parts.append("<h2>By workload</h2>")
    parts.append(_workload_table(results))
    if len(results) > 1:
        parts.append("<h2>Side by side</h2>")
        parts.append(_overlay(results, "ram_util", "RAM utilisation", "allocated / capacity", True, 1.0))
        parts.append(_overlay(results, "vcpu_util", "vCPU utilisation", "allocated / capacity", True, 1.0))
        parts.append(_overlay(results, "active", "Active instances", "instances"))
        parts.append(_overlay(results, "refused", "Refusals per sample interval", "instances"))
        parts.append(_overlay(results, "ram_stranded", "Stranded RAM", "share of capacity up", True))
        parts.append(_latency_chart(results))
    for r in results:
        parts.append(f"<h2>{html.escape(r.name)}</h2>" if len(results) > 1 else "<h2>Over time</h2>")
        parts.extend(_run_charts(r, alone=len(results) == 1))
        parts.append(_failures_table(r))
    parts.append("</body></html>\n")
    return "\n".join(parts)
