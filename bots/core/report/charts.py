"""Charts as inline SVG, drawn at build time with matplotlib.

Why matplotlib's SVG backend: the page must open from a share or an e-mail attachment with no
network, no scripts and nothing to fail in the viewer. A static SVG drawn here has no
JavaScript (no console errors, no fetches), and its text stays text (``svg.fonttype = none``:
no embedded or linked fonts; the browser's own sans-serif draws it). Altair with vl-convert
would give the same SVG through a bundled JavaScript engine, a much larger dependency for the
same picture; Plotly would inline 3 MB of JavaScript into every report. matplotlib is maintained,
on PyPI for every platform we support, and under the PSF-style Matplotlib licence.

The object API (``Figure``), not ``pyplot``: no global figure state, safe in the scheduler's threads.
"""

from __future__ import annotations

import io
import math
import re

from bots.core.report.model import Chart

__all__ = ["render_svg"]

_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
_MAX_TICKS = 14  # period labels shown on the x axis (every n-th period beyond that)


def render_svg(chart: Chart, salt: str) -> str:
    """The chart as an ``<svg>`` element. ``salt`` keeps ids unique among the page's charts."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    with rc_context({"svg.fonttype": "none", "svg.hashsalt": salt, "font.family": "sans-serif",
                     "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}):
        # Fixed margins: a layout engine measures every label twice and doubled the time per chart.
        fig = Figure(figsize=(7.5, 3.0))
        fig.subplots_adjust(left=0.09, right=0.98, top=0.89, bottom=0.3)
        ax = fig.subplots()
        drawn = _draw(ax, chart)
        if not drawn:
            ax.text(0.5, 0.5, "no data in this range", ha="center", va="center", transform=ax.transAxes,
                    color="#666666")
        ax.set_title(chart.title, loc="left", fontsize=10)
        if chart.y_label:
            ax.set_ylabel(chart.y_label)
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = _METADATA.sub("", _PROLOG.sub("", buf.getvalue(), count=1), count=1)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(chart.title)}" ', 1)


def _draw(ax, chart: Chart) -> bool:  # noqa: ANN001 - matplotlib Axes
    x = list(range(len(chart.x)))
    has_data = False
    if chart.kind == "bar":
        values = next(iter(chart.series.values()), [])
        heights = [0.0 if v is None else float(v) for v in values]
        has_data = bool(chart.x)
        ax.bar(x, heights, color="#1F4E78")
        ax.set_xticks(x, chart.x, rotation=35, ha="right")
        return has_data
    for name, values in chart.series.items():
        ys = [math.nan if v is None else float(v) for v in values]
        has_data = has_data or any(not math.isnan(y) for y in ys)
        ax.plot(x, ys, marker="o", markersize=3, linewidth=1.5, label=name)
    step = max(1, math.ceil(len(x) / _MAX_TICKS))
    ax.set_xticks(x[::step], chart.x[::step], rotation=35, ha="right")
    if len(chart.series) > 1:
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.set_ylim(bottom=0)
    return has_data


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
