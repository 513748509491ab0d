"""The overview's chart: money received per WIB day, drawn server-side as SVG by pygal.

It is served as an image of its own (``/dashboard/chart.svg``): pygal's SVG carries its styles
inline, which the pages' CSP forbids in a page but an image may hold, and drawn without pygal's
tooltip script an ``<img>`` would not run anyway. No CDN, no build step, nothing in the browser.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pygal  # type: ignore[import-untyped]  # no stubs, no py.typed
from pygal.style import Style  # type: ignore[import-untyped]

from kasir.money import rupiah

_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#334155",
    foreground_strong="#0f172a",
    foreground_subtle="#cbd5e1",
    colors=("#0f766e",),
    font_family="system-ui, sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    value_font_size=11,
    title_font_size=13,
)


def received_svg(days: Sequence[tuple[date, int, int]], title: str) -> bytes:
    chart = pygal.Bar(
        style=_STYLE,
        width=720,
        height=320,
        show_legend=False,
        js=[],  # no tooltip script: the image is plain SVG
        disable_xml_declaration=False,
        x_label_rotation=0,
        show_minor_x_labels=False,
        truncate_label=-1,  # "01/12" whole, never "01/…"
        max_scale=5,  # a handful of rupiah lines, not one per 2,000
        value_formatter=lambda value: f"Rp {rupiah(int(value))}",
        margin=12,
        title=title,
    )
    labels = [day.strftime("%d/%m") for day, _, _ in days]
    chart.x_labels = labels
    # Every other day, counted back from today, so that today always has its label.
    chart.x_labels_major = [label for i, label in enumerate(labels) if (len(labels) - 1 - i) % 2 == 0]
    chart.add("Rp", [amount for _, _, amount in days])
    rendered = chart.render()
    return rendered if isinstance(rendered, bytes) else str(rendered).encode()


def by_method_svg(methods: Sequence[tuple[str, int, int]], title: str) -> bytes:
    """The statistics page's chart: the money of one period per payment method, from
    ``(method name, payments paid, rupiah)``; each bar is labelled with its count of payments."""
    chart = pygal.Bar(
        style=_STYLE,
        width=720,
        height=320,
        show_legend=False,
        js=[],
        disable_xml_declaration=False,
        x_label_rotation=0,
        truncate_label=-1,
        max_scale=5,
        value_formatter=lambda value: f"Rp {rupiah(int(value))}",
        margin=12,
        title=title,
    )
    chart.x_labels = [f"{name} ({count}×)" for name, count, _ in methods]
    chart.add("Rp", [amount for _, _, amount in methods])
    rendered = chart.render()
    return rendered if isinstance(rendered, bytes) else str(rendered).encode()
