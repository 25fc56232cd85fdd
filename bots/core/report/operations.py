"""The dashboard's flow sections: handoff delays between teams and the bots' own operations
(runs, items, retries, failures, carried-over work). Apart from ``figures`` by concern; they
share its ``Context`` and helpers.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bots.core.lifecycle import RunStatus
from bots.core.report.figures import (
    APPEALS_NOT_SET_UP, NOT_RUN, Context, queue_order, rate_of, rate_series, appeals_set_up, nearest_rank,
)
from bots.core.report.model import Chart, Section, Table

def handoffs(ctx: Context) -> Section:
    labels = ctx.periods.labels
    per: dict[int, list[float]] = defaultdict(list)
    by_queue: dict[tuple[int, str], list[float]] = defaultdict(list)
    for queue, day, hours in ctx.store.sync_delays(ctx.periods.start_ts, ctx.periods.end_ts):
        i = ctx.periods.index(day)
        if i is None or i < 0 or hours is None:
            continue
        per[i].append(hours)
        by_queue[(i, queue)].append(hours)
    rows = [[labels[i], len(per[i]), nearest_rank(per[i], 0.5), nearest_rank(per[i], 0.9)] for i in range(len(labels))]
    detail = [[labels[i], q, len(v), nearest_rank(v, 0.5), nearest_rank(v, 0.9)]
              for (i, q), v in sorted(by_queue.items(), key=lambda kv: (kv[0][0], queue_order([kv[0][1]])))]
    tables = [Table("Coder resolution → billing updated, per period",
                    ["Period", "Resolutions applied", "Median (h)", "P90 (h)"], rows),
              Table("Per period and queue", ["Period", "Queue", "Resolutions applied", "Median (h)", "P90 (h)"],
                    detail, long=True)]
    charts = [Chart("Coder resolution → billing updated (hours)", "line", labels,
                    {"median": [r[2] for r in rows], "90th percentile": [r[3] for r in rows]}, "hours")]
    note = ""
    if appeals_set_up(ctx):
        appealed: dict[int, list[float]] = defaultdict(list)
        for _payer, day, hours in ctx.store.appeal_delays(ctx.periods.start_ts, ctx.periods.end_ts):
            i = ctx.periods.index(day)
            if i is not None and i >= 0 and hours is not None:
                appealed[i].append(hours)
        appeal_rows = [[labels[i], len(appealed[i]), nearest_rank(appealed[i], 0.5), nearest_rank(appealed[i], 0.9)]
                       for i in range(len(labels))]
        tables.append(Table("Denial read → appeal opened, per period",
                            ["Period", "Appeals opened", "Median (h)", "P90 (h)"], appeal_rows))
        charts.append(Chart("Denial read → appeal opened (hours)", "line", labels,
                            {"median": [r[2] for r in appeal_rows], "90th percentile": [r[3] for r in appeal_rows]},
                            "hours"))
    else:
        note = "Denial read → appeal opened: " + APPEALS_NOT_SET_UP + "."
    return Section(
        "handoffs", "Handoff delay between teams",
        "Coder resolution → billing updated: rows with Status Resolved that the bots applied to billing (Bot "
        "Status Synced, Resolution not \"Retry by bot\"; the resolution_applied audit record), in the period of "
        "Synced At. Delay = Synced At − Coder Updated (when the bots read the resolution), in hours; median and "
        "90th percentile by the nearest-rank method. A row a coder edited again after it synced is left out. "
        "Denial read → appeal opened: appeals (the appeals table) in the period of appeals.opened_at (the ts of "
        "their appeal_opened audit record); delay = opened_at − First Seen of the Denials or Payment Variances "
        "row it appeals (appeals.source_id: when the bots first read the denial), in hours, median and 90th "
        "percentile by the nearest-rank method.",
        note=note, tables=tables, charts=charts)


def operations(ctx: Context) -> Section:
    labels = ctx.periods.labels
    n = len(labels)
    keys = ("runs", "succeeded", "not_run", "items", "done", "exceptions", "failed", "carried_over", "retries")
    acc: dict[str, dict[str, list[int]]] = defaultdict(lambda: {k: [0] * n for k in keys})
    for bot, day, status, count, items, done, exc, failed, carried, retries in ctx.store.run_counts(
            ctx.periods.start_ts, ctx.periods.end_ts):
        i = ctx.periods.index(day)
        if i is None or i < 0:
            continue
        a = acc[bot]
        if status in NOT_RUN:
            a["not_run"][i] += count if status != RunStatus.RUNNING else 0
            continue
        a["runs"][i] += count
        a["succeeded"][i] += count if status == RunStatus.SUCCEEDED else 0
        for k, v in (("items", items), ("done", done), ("exceptions", exc), ("failed", failed),
                     ("carried_over", carried), ("retries", retries)):
            a[k][i] += v
    bots = sorted(acc)
    total = {k: [sum(acc[b][k][i] for b in bots) for i in range(n)] for k in keys}

    def line(label: str, a: dict[str, list[int]], i: int, bot: str | None = None) -> list[Any]:
        runs_i = a["runs"][i]
        return ([label] + ([bot] if bot else []) + [runs_i, a["succeeded"][i], rate_of(a["succeeded"][i], runs_i),
                a["items"][i], round(a["items"][i] / runs_i, 1) if runs_i else None, a["retries"][i], a["failed"][i],
                a["carried_over"][i], a["not_run"][i]])

    cols = ["Runs", "Succeeded", "Success rate (%)", "Items", "Items per run", "Retries", "Failed items",
            "Carried over", "Missed or skipped"]
    return Section(
        "operations", "Bot operations",
        "Run history (the runs table; bots runs), by the period of each run's start. Runs: runs that ran (not "
        "missed, skipped or still running). Success rate = succeeded / runs (degraded, failed, interrupted and "
        "crashed runs are not successes). Items, retries, failed items (settled failed: Bot Failures rows) and "
        "carried over (put back for the next run after a site outage) are the runs' own counts; items per run = "
        "items / runs. Missed or skipped: scheduled runs that never started.",
        tables=[Table("Per period", ["Period"] + cols, [line(labels[i], total, i) for i in range(n)]),
                Table("Per period and bot", ["Period", "Bot"] + cols,
                      [line(labels[i], acc[b], i, b) for i in range(n) for b in bots if acc[b]["runs"][i]
                       or acc[b]["not_run"][i]], long=True)],
        charts=[Chart("Run success rate by bot (%)", "line", labels,
                      {b: rate_series(acc[b]["succeeded"], acc[b]["runs"]) for b in bots}, "%"),
                Chart("Items per period", "line", labels,
                      {"items": [float(v) for v in total["items"]], "failed": [float(v) for v in total["failed"]],
                       "carried over": [float(v) for v in total["carried_over"]]}, "items")])
