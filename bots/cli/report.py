"""``bots report``: the leaders' dashboard, one self-contained HTML file (and its figures as JSON).

Dates are UTC calendar dates (``YYYY-MM-DD``), widened to whole weeks (Monday to Sunday) or
months; without them the last 12 weeks or months up to today. A date that does not parse, or a
range that ends before it starts, is bad usage: exit 2 with one line saying which.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

from bots.cli.app import app, err_console, get_settings, open_store, user_errors

__all__ = ["report"]


def _date(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        err_console.print(f"[bold red]error:[/] {option} {value!r} is not a date: use YYYY-MM-DD (e.g. 2026-11-02)",
                          highlight=False)
        raise typer.Exit(2) from None


@app.command()
def report(
    from_: Annotated[Optional[str], typer.Option("--from", metavar="DATE",
                                                 help="First day (UTC, YYYY-MM-DD); default 12 periods before --to.")] = None,
    to: Annotated[Optional[str], typer.Option("--to", metavar="DATE", help="Last day (UTC); default today.")] = None,
    by: Annotated[Optional[str], typer.Option("--by", metavar="week|month",
                                              help="Period length (default [report] by: week).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", metavar="PATH",
                                                help="HTML file to write (default [report] out under BOTS_HOME); "
                                                     "the JSON goes beside it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Also print the figures as JSON on stdout.")] = False,
    coder_names: Annotated[Optional[bool], typer.Option("--coder-names/--no-coder-names",
                                                        help="Show the per-coder training view (default [report] "
                                                             "coder_names).")] = None,
) -> None:
    """Write the leaders' dashboard: every baseline per week or month, with its definition."""
    from bots.core.report import build_report, default_range, features_set_up, report_json, write_report
    from bots.core.store import utcnow

    first, last = _date("--from", from_), _date("--to", to)
    with user_errors():
        settings = get_settings()
    cfg = settings.config.report
    period = by or cfg.by
    if period not in ("week", "month"):
        err_console.print(f"[bold red]error:[/] --by {period!r}: use week or month", highlight=False)
        raise typer.Exit(2)
    today = utcnow().date()
    default_first, default_last = default_range(period, last or today)  # type: ignore[arg-type]
    first, last = first or default_first, last or default_last
    if last < first:
        err_console.print(f"[bold red]error:[/] --to {last} is before --from {first}", highlight=False)
        raise typer.Exit(2)
    store = open_store(settings)
    try:
        result = build_report(store, first, last, period,  # type: ignore[arg-type]
                              coder_names=cfg.coder_names if coder_names is None else coder_names,
                              scan_bot=cfg.scan_bot, **features_set_up(settings))
    finally:
        store.close()
    path = out or settings.report_path
    json_path = path.with_suffix(".json")
    write_report(result, path, json_path)
    if as_json:
        print(report_json(result))
    err_console.print(f"wrote {path} and {json_path.name} ({len(result.periods)} {period}s from {result.range_from} "
                      f"to {result.range_to})", highlight=False, markup=False)
