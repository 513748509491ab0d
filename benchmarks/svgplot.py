"""A tiny SVG writer for the benchmark report: horizontal bar charts, nothing else.

``report.py`` draws every figure of ``docs/BENCHMARKS.md`` with it. Hand-written on purpose: the
charts are a handful of labelled bars with a target line, and matplotlib (not installed, tens of
MB with numpy) would be the heaviest dependency of the project for that. The output is plain SVG
1.1 text, readable in a diff and rendered by GitHub and any browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

# Colour-blind-safe (Okabe-Ito) colours, one per series, in the order series first appear.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
TARGET_COLOUR = "#D55E00"
LABEL_WIDTH = 250
PLOT_WIDTH = 430
NOTE_WIDTH = 170
ROW = 20
GAP = 8  # extra space between groups
TOP = 52
BOTTOM = 34


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # left of the bar
    value: float | None  # None: not measured (drawn as a dash)
    series: str = ""  # bars of one series share a colour; named in the legend
    note: str = ""  # right of the bar (the value with its unit, a ratio, …)
    group: str = ""  # a new group starts a little lower, so related bars stay together


@dataclass(frozen=True, slots=True)
class Line:
    value: float
    label: str


def _nice_step(span: float) -> float:
    """A round tick step giving about five ticks over ``span``."""
    raw = span / 5
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10.0 * magnitude


def _fmt_tick(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}"


def bar_chart(
    path: Path,
    title: str,
    bars: list[Bar],
    *,
    unit: str,
    lines: list[Line] | None = None,
    log: bool = False,
    subtitle: str = "",
) -> None:
    """Write a horizontal bar chart to ``path``. ``lines`` are vertical markers (targets);
    ``log`` puts the axis on a log scale (latencies spanning 1 ms to 1 s)."""
    lines = lines or []
    values = [b.value for b in bars if b.value is not None and b.value > 0] + [line.value for line in lines]
    if log:
        low = 10 ** math.floor(math.log10(min(values))) if values else 1.0
        high = 10 ** math.ceil(math.log10(max(values))) if values else 10.0
        high = max(high, low * 10)
        ticks = [low * 10**i for i in range(round(math.log10(high / low)) + 1)]

        def x(value: float) -> float:
            value = min(max(value, low), high)
            return LABEL_WIDTH + PLOT_WIDTH * math.log10(value / low) / math.log10(high / low)

    else:
        high = max(values, default=1.0) * 1.05
        step = _nice_step(high)
        high = math.ceil(high / step) * step
        ticks = [step * i for i in range(round(high / step) + 1)]

        def x(value: float) -> float:
            return LABEL_WIDTH + PLOT_WIDTH * min(max(value, 0.0), high) / high

    series = list(dict.fromkeys(b.series for b in bars if b.series))
    colour = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    rows: list[float] = []
    y = float(TOP)
    previous_group: str | None = None
    for bar in bars:
        if previous_group is not None and bar.group != previous_group:
            y += GAP
        rows.append(y)
        previous_group = bar.group
        y += ROW
    height = int(y + BOTTOM)
    width = LABEL_WIDTH + PLOT_WIDTH + NOTE_WIDTH
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="10" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    if subtitle:
        out.append(f'<text x="10" y="34" fill="#555555">{escape(subtitle)}</text>')
    legend_x = LABEL_WIDTH
    for name in series:
        out.append(f'<rect x="{legend_x}" y="38" width="10" height="10" fill="{colour[name]}"/>')
        out.append(f'<text x="{legend_x + 14}" y="47">{escape(name)}</text>')
        legend_x += 24 + 7 * len(name)
    axis_y = y + 4
    for tick in ticks:
        tx = x(tick)
        out.append(f'<line x1="{tx:.1f}" y1="{TOP - 4}" x2="{tx:.1f}" y2="{axis_y}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{tx:.1f}" y="{axis_y + 14}" text-anchor="middle" fill="#555555">{_fmt_tick(tick)}</text>')
    out.append(
        f'<text x="{LABEL_WIDTH + PLOT_WIDTH / 2}" y="{axis_y + 28}" text-anchor="middle" fill="#555555">'
        f"{escape(unit)}{' (log scale)' if log else ''}</text>"
    )
    for bar, top in zip(bars, rows, strict=True):
        out.append(f'<text x="{LABEL_WIDTH - 8}" y="{top + 14}" text-anchor="end">{escape(bar.label)}</text>')
        if bar.value is None:
            out.append(f'<text x="{LABEL_WIDTH + 4}" y="{top + 14}" fill="#999999">not measured</text>')
            continue
        left = x(ticks[0]) if log else LABEL_WIDTH
        right = x(bar.value)
        fill = colour.get(bar.series, PALETTE[0])
        out.append(
            f'<rect x="{left:.1f}" y="{top + 3}" width="{max(right - left, 1):.1f}" height="{ROW - 6}" fill="{fill}"/>'
        )
        if bar.note:
            out.append(f'<text x="{right + 4:.1f}" y="{top + 14}">{escape(bar.note)}</text>')
    for line in lines:
        lx = x(line.value)
        out.append(
            f'<line x1="{lx:.1f}" y1="{TOP - 6}" x2="{lx:.1f}" y2="{axis_y}" stroke="{TARGET_COLOUR}" '
            'stroke-width="1.5" stroke-dasharray="5,3"/>'
        )
        out.append(
            f'<text x="{lx + 3:.1f}" y="{axis_y - 3}" fill="{TARGET_COLOUR}" font-size="11" stroke="#ffffff" '
            f'stroke-width="3" paint-order="stroke">{escape(line.label)}</text>'
        )
    out.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")
