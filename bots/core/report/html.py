"""The dashboard as one self-contained HTML file: inline CSS, inline SVG charts, no script.

It has to open from a file share or an e-mail attachment, offline, in whatever browser a leader
has, so nothing is fetched: no fonts, no stylesheets, no scripts. A Content-Security-Policy of
``default-src 'none'`` makes the browser refuse any fetch a future change might add by mistake.
Long tables are folded (``<details>``), so the page reads top to bottom as the baselines.
"""

from __future__ import annotations

from html import escape

from bots.core.report.charts import render_svg
from bots.core.report.model import Report, Section, Table

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;max-width:72rem;
color:#1b1b1b;padding:0 1rem;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.4rem;border-bottom:2px solid #1F4E78;
padding-bottom:.2rem}h3{font-size:1rem;margin:1.2rem 0 .4rem}
.meta{color:#555;font-size:.9rem}.def{background:#f3f6fa;border-left:4px solid #1F4E78;padding:.5rem .8rem;
font-size:.88rem}.note{background:#fff7e0;border-left:4px solid #c98a00;padding:.4rem .8rem;font-size:.88rem}
.na{color:#7a4b00;font-weight:600}table{border-collapse:collapse;font-size:.82rem;margin:.3rem 0 1rem}
th,td{border:1px solid #d0d7de;padding:.2rem .45rem;text-align:right}th{background:#eef2f6}
td:first-child,th:first-child{text-align:left}.chart svg{max-width:100%;height:auto}
nav ol{columns:2;font-size:.9rem}summary{cursor:pointer;font-weight:600;font-size:.92rem}
"""


def _cell(value: object) -> str:
    if value is None:
        return "<td>–</td>"
    if isinstance(value, float):
        return f"<td>{value:,.1f}</td>"
    if isinstance(value, int):
        return f"<td>{value:,}</td>"
    return f"<td>{escape(str(value))}</td>"


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in table.rows)
    if not table.rows:
        body = f'<tr><td colspan="{len(table.columns)}">no rows in this range</td></tr>'
    html = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if table.long:
        return f"<details><summary>{escape(table.title)} ({len(table.rows)} rows)</summary>{html}</details>"
    return f"<h3>{escape(table.title)}</h3>{html}"


def _section(section: Section, number: int) -> str:
    parts = [f'<section id="{section.key}"><h2>{number}. {escape(section.title)}</h2>',
             f'<p class="def"><strong>Definition.</strong> {escape(section.definition)}</p>']
    if not section.available:
        parts.append(f'<p class="note na">{escape(section.note)}</p></section>')
        return "".join(parts)
    if section.note:
        parts.append(f'<p class="note">{escape(section.note)}</p>')
    for j, chart in enumerate(section.charts):
        parts.append(f'<div class="chart">{render_svg(chart, f"{section.key}-{j}")}</div>')
    parts.extend(_table(t) for t in section.tables)
    parts.append("</section>")
    return "".join(parts)


def render_html(report: Report) -> str:
    toc = "".join(f'<li><a href="#{s.key}">{escape(s.title)}</a>{"" if s.available else " (not available)"}</li>'
                  for s in report.sections)
    sections = "".join(_section(s, n) for n, s in enumerate(report.sections, 1))
    coders = ("coder names shown in the training view only" if report.coder_names
              else "coder names turned off")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(report.title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(report.title)}</h1>"
        f'<p class="meta">{escape(report.range_from)} to {escape(report.range_to)}, per {escape(report.by)}: '
        f"{escape(report.scope)}. Generated {escape(report.generated_at)} UTC; {coders}. Aggregates only: no "
        "claim, patient or member appears in this file.</p>"
        f"<nav><ol>{toc}</ol></nav>{sections}</body></html>"
    )
