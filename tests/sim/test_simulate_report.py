"""The HTML report: well-formed, self-contained, and every plot carries data."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from tests.sim.simulate_support import write
from tests.sim.test_simulate_conservation import BUSY
from twinstack.sim.offline.command import simulate_files


class Charts(HTMLParser):
    """Collects every chart, each with its series and how many data points each carries."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[dict[str, int]] = []
        self.external: list[str] = []
        self.stack: list[str] = []
        self.bars: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "link", "img") or (a.get("src") or "").startswith("http"):
            self.external.append(tag)
        if tag == "svg" and a.get("class") == "chart":
            self.charts.append({})
        elif tag == "polyline" and a.get("class") == "series":
            points = (a.get("points") or "").split()
            self.charts[-1][a.get("data-label") or "?"] = len(points)
        elif tag == "g" and a.get("class") == "series":
            self.bars = a.get("data-label") or "?"
            self.charts[-1][self.bars] = 0
        elif tag == "rect" and self.bars is not None:
            self.charts[-1][self.bars] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "g":
            self.bars = None


def _parse(path: Path) -> Charts:
    parser = Charts()
    parser.feed(path.read_text())
    parser.close()
    return parser


def test_the_report_parses_and_its_plots_carry_data(tmp_path: Path) -> None:
    out = simulate_files([write(tmp_path, BUSY)], tmp_path / "out", show_progress=False)
    report = _parse(out / "report.html")
    assert report.external == []  # self-contained: no scripts, stylesheets or images to fetch
    assert len(report.charts) >= 9
    for chart in report.charts:
        assert chart and all(points >= 2 for points in chart.values()), chart
    text = (out / "report.html").read_text()
    for title in ("Utilisation of the hosts up", "Active instances", "Arrivals and refusals",
                  "Boot latency distribution", "Stranded capacity", "per availability zone", "per rack",
                  "Failures"):
        assert title in text


def test_a_comparison_puts_both_runs_in_one_report(tmp_path: Path) -> None:
    path = write(tmp_path, BUSY.replace("duration: 1d", "duration: 6h") + """
variants:
  pack:
    scheduler: {weighers: {RAMWeigher: -1.0, CPUWeigher: -1.0, DiskWeigher: -1.0}}
  bigger:
    datacenter: {hosts: 16}
""")
    out = simulate_files([path], tmp_path / "out", show_progress=False)
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["busy", "busy-bigger", "busy-pack"]
    text = (out / "report.html").read_text()
    assert "busy/pack" in text and "busy/bigger" in text and "Side by side" in text
    assert all(all(n >= 2 for n in chart.values()) for chart in _parse(out / "report.html").charts)
