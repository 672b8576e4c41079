"""Charts as inline SVG, drawn here: a report that needs no script, no CDN and no network to be read.

Each chart is an ``<svg class="chart">``; every plotted series carries ``data-label`` and its points (a
``polyline``'s ``points`` or one ``rect`` per bar), so a test can check that a plot has data, not only axes.
Numbers are printed with a fixed precision, so the same data always makes the same bytes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")
WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 30, 40
MAX_POINTS = 2000


@dataclass(frozen=True)
class Line:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    dashed: bool = False


def _fmt(value: float, percent: bool = False) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.1f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.0f}k"
    if magnitude >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.2f}"


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= step * factor:
            step *= factor
            break
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _thin(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float]]:
    """At most MAX_POINTS points, keeping every k-th one (deterministically) and the last."""
    if len(xs) <= MAX_POINTS:
        return list(xs), list(ys)
    step = math.ceil(len(xs) / MAX_POINTS)
    keep = list(range(0, len(xs), step))
    if keep[-1] != len(xs) - 1:
        keep.append(len(xs) - 1)
    return [xs[i] for i in keep], [ys[i] for i in keep]


def _frame(title: str, x_label: str, y_label: str, x_range: tuple[float, float], y_range: tuple[float, float],
           percent: bool) -> list[str]:
    (x0, x1), (y0, y1) = x_range, y_range
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(title)}">',
             f'<text x="{LEFT}" y="18" class="title">{html.escape(title)}</text>',
             f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="plot"/>']
    for tick in _ticks(y0, y1):
        y = TOP + plot_h - (tick - y0) / (y1 - y0) * plot_h
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
                     f'{_fmt(tick, percent)}</text>')
    for tick in _ticks(x0, x1, 8):
        x = LEFT + (tick - x0) / (x1 - x0) * plot_w
        parts.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" class="tick" text-anchor="middle">'
                     f'{_fmt(tick)}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 6}" class="axis" text-anchor="middle">'
                 f'{html.escape(x_label)}</text>')
    parts.append(f'<text x="14" y="{TOP + plot_h / 2:.0f}" class="axis" text-anchor="middle" '
                 f'transform="rotate(-90 14 {TOP + plot_h / 2:.0f})">{html.escape(y_label)}</text>')
    return parts


def _legend(labels: Sequence[str]) -> list[str]:
    parts = []
    for n, label in enumerate(labels):
        y = TOP + 12 + n * 18
        color = PALETTE[n % len(PALETTE)]
        parts.append(f'<rect x="{WIDTH - RIGHT + 10}" y="{y - 9}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{WIDTH - RIGHT + 26}" y="{y + 1}" class="legend">{html.escape(label[:22])}</text>')
    return parts


def _range(values: Sequence[float], floor_zero: bool = True) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    if floor_zero:
        low = min(low, 0.0)
    if high <= low:
        high = low + 1.0
    return low, high + (high - low) * 0.05


def line_chart(title: str, lines: Sequence[Line], x_label: str, y_label: str, percent: bool = False,
               y_max: float | None = None) -> str:
    """Lines over a shared x axis (each with its own colour, in order), with a legend."""
    all_x = [x for line in lines for x in line.xs]
    all_y = [y for line in lines for y in line.ys]
    x_range = _range(all_x, floor_zero=False) if all_x else (0.0, 1.0)
    x_range = (min(all_x), max(all_x)) if all_x and max(all_x) > min(all_x) else x_range
    y_range = _range(all_y)
    if y_max is not None:
        y_range = (y_range[0], max(y_max, y_range[1] if max(all_y, default=0) > y_max else y_max))
    (x0, x1), (y0, y1) = x_range, y_range
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(title, x_label, y_label, x_range, y_range, percent)
    for n, line in enumerate(lines):
        xs, ys = _thin(line.xs, line.ys)
        points = " ".join(
            f"{LEFT + (x - x0) / (x1 - x0) * plot_w:.1f},{TOP + plot_h - (y - y0) / (y1 - y0) * plot_h:.1f}"
            for x, y in zip(xs, ys, strict=True) if math.isfinite(y))
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        parts.append(f'<polyline class="series" data-label="{html.escape(line.label)}" data-count="{len(xs)}" '
                     f'fill="none" stroke="{PALETTE[n % len(PALETTE)]}" stroke-width="1.6"{dash} points="{points}"/>')
    parts.extend(_legend([line.label for line in lines]))
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(title: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], y_label: str,
              percent: bool = False) -> str:
    """Grouped bars: one group per category, one bar per series."""
    values = [v for _, vs in series for v in vs]
    y0, y1 = _range(values)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(title, "", y_label, (0.0, 1.0), (y0, y1), percent)
    parts = [p for p in parts if 'class="tick" text-anchor="middle"' not in p]  # no numeric x ticks
    groups = max(len(categories), 1)
    group_w = plot_w / groups
    bar_w = max(group_w * 0.8 / max(len(series), 1), 0.5)
    for s, (label, vs) in enumerate(series):
        color = PALETTE[s % len(PALETTE)]
        parts.append(f'<g class="series" data-label="{html.escape(label)}" data-count="{len(vs)}" fill="{color}">')
        for c, value in enumerate(vs):
            height = (value - y0) / (y1 - y0) * plot_h
            x = LEFT + c * group_w + group_w * 0.1 + s * bar_w
            parts.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{bar_w:.1f}" '
                         f'height="{max(height, 0):.1f}"><title>{html.escape(categories[c])}: '
                         f'{_fmt(value, percent)}</title></rect>')
        parts.append("</g>")
    if len(categories) <= 24:
        for c, category in enumerate(categories):
            x = LEFT + (c + 0.5) * group_w
            parts.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" class="tick" text-anchor="middle">'
                         f'{html.escape(category[:10])}</text>')
    parts.extend(_legend([label for label, _ in series]))
    parts.append("</svg>")
    return "\n".join(parts)
