"""The leaders' baselines, one function per section, each computed from the store's aggregates.

Every section prints its definition beside its numbers, written so a reviewer can recompute
each number from the store (the ``exceptions``, ``runs`` and ``claims`` tables) and the audit
trail (action names as in ``bots audit show``), and the quality samples (``qa_samples``). A section
that needs a feature that is not set up says so (appeals: no ``config/appeals.toml`` and no appeal ever
opened; quality sampling: no ``config/quality.toml`` and no sample stored).

Counts are per period (``periods``); "now" figures (backlog age, Bot Checks) are as of the
report's generation. Medians and 90th percentiles use the nearest-rank method on hours.
Labels are queues, payers, rules, review levels, bots, CARC codes, QA decision kinds and finding
categories and, in the training view only, coder names: never a claim id, a patient, a member id
or a QA Note (free text a reviewer typed).

The control sections (appeals, quality, training) are in ``controls``, the flow sections
(handoffs, bot operations) in ``operations``; ``sections`` lists them all in page order.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from bots.core.lifecycle import BOT_FAILURES, RunStatus
from bots.core.report.model import Chart, Section, Table
from bots.core.report.periods import Periods
from bots.core.store import Store
from bots.core.store.dashboard import CODER_KIND
from bots.core.store.rows import RECURRED_CHECK
from bots.core.workbook.checks import ID_CHECK, MISSING_CHECK
from bots.core.workbook.layout import QUEUE_SHEETS

__all__ = ["CODING_CARCS", "Context", "nearest_rank"]

DOC_QUEUES = ("Documentation Requests", "Coding Queries")
DENIALS = "Denials"
SENIOR = "Senior"
# CARC reason codes that point at coding (procedure, modifier, diagnosis, bundling, code validity on the
# date of service) rather than eligibility, benefits or timely filing: the "coding-related" denials.
CODING_CARCS = frozenset({"4", "5", "6", "7", "8", "9", "10", "11", "12", "16", "40", "50", "58", "97", "146",
                          "167", "181", "182", "189", "199", "234", "236"})
CARC_GROUPS = ("CO", "PR", "OA", "PI", "CR")
_CARCS = re.compile(r"carc=([^|]*)")
AUDIT_ACTIONS = (("rule_evaluated", "fail"), "status_not_applied", "retry_requested", "workbook_row_missing")
NOT_RUN = (RunStatus.MISSED, RunStatus.SKIPPED, RunStatus.RUNNING)  # no outcome to count
AGE_BUCKETS = ((0, 7, "0-7 days"), (8, 30, "8-30 days"), (31, 90, "31-90 days"), (91, None, "over 90 days"))
QA_REWORK, QA_OVERTURNED = "QA-REWORK", "QA-OVERTURNED"  # the rules of the rows a QA Fail opens
QA_KINDS = ("claim_clean", "portal_paid", "status_applied", CODER_KIND)  # bots.core.quality's decision kinds
NO_SAMPLING = "not available: quality sampling is not set up"
BOT_CHECK_KINDS = (  # (kind, LIKE pattern) in the order tried: a cell may hold several messages
    ("row missing from the file, restored", f"%{MISSING_CHECK}%"),
    ("Exception ID copied or typed over", f"%{ID_CHECK}%"),
    ("recurred after its resolution was synced", f"%{RECURRED_CHECK}%"),
    ("Resolved without its evidence", "%missing %"),
    ("value not in the dropdown", "%' is not %"),
)


def nearest_rank(values: Sequence[float], p: float) -> float | None:
    """The ``p`` quantile (0 < p ≤ 1) by the nearest-rank method: the smallest value with at least
    ``p`` of the values at or below it; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(p * len(ordered)) - 1)], 1)


def rate_of(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass
class Context:
    """What every section reads: the store, the periods, and the report's choices."""

    store: Store
    periods: Periods
    now: datetime  # UTC, naive: "now" figures are as of this moment
    coder_names: bool = True
    scan_bot: str = "claim_edits"  # the bot whose items are claims scanned against the edit rules
    appeals_configured: bool | None = None  # config/appeals.toml is there (None: the caller does not say)
    quality_sampling: bool | None = None  # config/quality.toml present; None: not known (judge by the samples)

    @cached_property
    def audit(self) -> list[tuple[str, str, str, str, str, int]]:
        """One pass over the audit trail for every section that counts records."""
        return self.store.audit_counts(self.periods.start_ts, self.periods.end_ts, AUDIT_ACTIONS)

    def audit_per_period(self, action: str, key: Callable[[tuple[Any, ...]], str | None] = lambda r: "",
                         ) -> dict[str, list[int]]:
        """Records of ``action`` per period, split by ``key(record)`` (None: not counted)."""
        out: dict[str, list[int]] = defaultdict(lambda: [0] * len(self.periods))
        for rec in self.audit:
            if rec[0] != action:
                continue
            k, i = key(rec), self.periods.index(rec[4])
            if k is not None and i is not None and i >= 0:
                out[k][i] += rec[5]
        return out

    @cached_property
    def flow(self) -> list[tuple[str, str, str, str, int, int]]:
        """Rows opened and closed per queue, level and day (one pair of scans for every section)."""
        return self.store.row_flow(self.periods.end_ts)

    @cached_property
    def bot_checks(self) -> list[tuple[str, str, int, str, int]]:
        return self.store.bot_checks(BOT_CHECK_KINDS)

    @cached_property
    def resolutions(self) -> list[tuple[Any, ...]]:
        return self.store.resolutions(self.periods.start_ts, self.periods.end_ts)

    @cached_property
    def qa(self) -> list[tuple[Any, ...]]:
        return self.store.qa_counts(self.periods.start_ts, self.periods.end_ts)

    @cached_property
    def qa_total(self) -> int:
        return self.store.qa_sample_total()

    @property
    def sampling(self) -> bool:
        """Quality sampling is set up (config/quality.toml) or has drawn a sample at some time."""
        return bool(self.quality_sampling) or self.qa_total > 0

    def zeros(self) -> list[int]:
        return [0] * len(self.periods)


def queue_order(seen: Iterable[str]) -> list[str]:
    seen = set(seen)
    return [q for q in QUEUE_SHEETS if q in seen] + sorted(seen - set(QUEUE_SHEETS))


def _flow(ctx: Context, rows: Iterable[tuple[str, str, str, str, int, int]], key: Callable[[str, str], str | None],
          ) -> dict[str, tuple[list[int], list[int], list[int]]]:
    """Per key: rows opened, closed, and open at each period's end (opened before it minus closed before it)."""
    n = len(ctx.periods)
    acc: dict[str, tuple[list[int], list[int], list[int]]] = {}
    before: Counter[str] = Counter()
    for event, queue, level, day, count, _open_now in rows:
        k = key(queue, level)
        i = ctx.periods.index(day)
        if k is None or i is None:
            continue
        opened, closed, _ = acc.setdefault(k, ([0] * n, [0] * n, [0] * n))
        if i < 0:
            before[k] += count if event == "opened" else -count
        else:
            (opened if event == "opened" else closed)[i] += count
    for k, (opened, closed, open_end) in acc.items():
        running = before[k]
        for i in range(n):
            running += opened[i] - closed[i]
            open_end[i] = running
    return acc


CLOSED_DEF = ("A row is closed when a coder resolved it (Status Resolved; at Coder Updated, the moment the bots "
              "read the Resolved entry back, = the ts of its last coder_update audit record) or the bots cleared "
              "it (Bot Status Cleared; at Last Seen, the run that no longer found it). ")


# ---- sections ------------------------------------------------------------------------------------

def documentation_queries(ctx: Context) -> Section:
    flow = _flow(ctx, ctx.flow, lambda q, _level: q if q in DOC_QUEUES else None)
    n = len(ctx.periods)
    queues = list(DOC_QUEUES)
    columns = ["Period"] + [f"{q}: {w}" for q in queues for w in ("opened", "closed", "open at end")]
    empty = ([0] * n, [0] * n, [0] * n)
    rows = [[label] + [flow.get(q, empty)[j][i] for q in queues for j in range(3)]
            for i, label in enumerate(ctx.periods.labels)]
    labels = ctx.periods.labels
    return Section(
        "documentation_queries", "Documentation query volume",
        "Rows of the Documentation Requests and Coding Queries sheets (exceptions.queue). Opened: rows whose "
        "First Seen falls in the period. Closed: rows closed in the period. " + CLOSED_DEF + "Open at end: rows "
        "first seen before the period's end and not closed before it (a resolved row that recurs stays closed "
        "here, as on the Summary sheet).",
        tables=[Table("Per period", columns, rows)],
        charts=[Chart("Opened per period", "line", labels, {q: [float(v) for v in flow.get(q, empty)[0]] for q in queues},
                      "rows"),
                Chart("Open at the end of each period", "line", labels,
                      {q: [float(v) for v in flow.get(q, empty)[2]] for q in queues}, "rows")])


def turnaround(ctx: Context) -> Section:
    by_key: dict[tuple[int, str, str], list[float]] = defaultdict(list)
    overall: dict[int, list[float]] = defaultdict(list)
    for queue, level, _rule, _coder, day, hours, _recurred, _failed_qa in ctx.resolutions:
        i = ctx.periods.index(day)
        if queue == BOT_FAILURES or i is None or i < 0 or hours is None:
            continue
        by_key[(i, queue, level)].append(hours)
        overall[i].append(hours)
    labels = ctx.periods.labels
    summary = [[label, len(overall[i]), nearest_rank(overall[i], 0.5), nearest_rank(overall[i], 0.9)]
               for i, label in enumerate(labels)]
    detail = [[labels[i], queue, level, len(v), nearest_rank(v, 0.5), nearest_rank(v, 0.9)]
              for (i, queue, level), v in sorted(by_key.items(), key=lambda kv: (kv[0][0], queue_order([kv[0][1]]), kv[0][2]))]
    return Section(
        "turnaround", "Coding review turnaround",
        "Rows with Status Resolved (every sheet but Bot Failures), in the period of their Coder Updated time "
        "(when the bots read the Resolved entry back; the ts of the row's last coder_update audit record). "
        "Turnaround = Coder Updated − First Seen, in hours. Median and 90th percentile by the nearest-rank "
        "method (the smallest value with at least 50 % / 90 % of the values at or below it); blank: no row.",
        tables=[Table("Per period", ["Period", "Resolved", "Median (h)", "P90 (h)"], summary),
                Table("Per period, queue and review level",
                      ["Period", "Queue", "Review level", "Resolved", "Median (h)", "P90 (h)"], detail, long=True)],
        charts=[Chart("Turnaround (hours)", "line", labels,
                      {"median": [r[2] for r in summary], "90th percentile": [r[3] for r in summary]}, "hours")])


def claim_edits(ctx: Context) -> Section:
    edits = ctx.audit_per_period("rule_evaluated", lambda r: r[3] if r[2] == "fail" and r[1] == ctx.scan_bot else None)
    lines, clean, first = ctx.zeros(), ctx.zeros(), ctx.zeros()
    for kind, day, result, count in ctx.store.scan_counts(ctx.scan_bot, ctx.periods.start_ts, ctx.periods.end_ts):
        i = ctx.periods.index(day)
        if i is None or i < 0:
            continue
        if kind == "lines":
            lines[i] += count
        elif result in ("done", "exception"):
            first[i] += count
            clean[i] += count if result == "done" else 0
    labels = ctx.periods.labels
    total = [sum(v[i] for v in edits.values()) for i in range(len(labels))]
    per_k = [round(1000 * t / n, 1) if n else None for t, n in zip(total, lines, strict=True)]
    rows = [[labels[i], lines[i], total[i], per_k[i], first[i], clean[i], rate_of(clean[i], first[i])]
            for i in range(len(labels))]
    rules = sorted(edits, key=lambda r: (-sum(edits[r]), r))
    per_rule = [[labels[i], rule, edits[rule][i], round(1000 * edits[rule][i] / lines[i], 1) if lines[i] else None]
                for i in range(len(labels)) for rule in rules if edits[rule][i]]
    all_lines = sum(lines)
    totals = [[rule, sum(edits[rule]), round(1000 * sum(edits[rule]) / all_lines, 1) if all_lines else None]
              for rule in rules]
    return Section(
        "claim_edits", "Claim edit frequency and first-pass clean rate",
        f"Edits: audit records rule_evaluated of bot {ctx.scan_bot} with result fail (one per rule per claim "
        "scan), by the record's ts. Lines scanned: the stored service lines (service_lines) of the claim of each "
        f"item_outcome record of {ctx.scan_bot} in the period (a claim scanned twice counts twice). Per 1,000 "
        "lines = edits × 1000 / lines scanned. First pass: claims whose first item_outcome record of "
        f"{ctx.scan_bot} (lowest seq per item_ref) is in the period and settled done or exception; clean = done "
        "(no exception row). Clean rate = clean / first passes. Blank: nothing to divide by.",
        tables=[Table("Per period", ["Period", "Lines scanned", "Edits", "Edits per 1,000 lines", "First passes",
                                     "Clean first passes", "First-pass clean rate (%)"], rows),
                Table("Per rule over the range", ["Rule", "Edits", "Edits per 1,000 lines"], totals),
                Table("Per period and rule", ["Period", "Rule", "Edits", "Edits per 1,000 lines"], per_rule, long=True)],
        charts=[Chart("First-pass clean rate (%)", "line", labels, {"clean rate": [r[6] for r in rows]}, "%"),
                Chart("Edits per 1,000 service lines", "line", labels, {"all rules": per_k}, "per 1,000 lines"),
                Chart("Edits per rule", "bar", [t[0] for t in totals[:20]], {"edits": [float(t[1]) for t in totals[:20]]},
                      "edits")])


def _carcs(detail: str) -> list[tuple[str, str]]:
    """``[(group, reason)]`` from a denial row's detail (``F2|Denied|carc=CO-45,PR-1``)."""
    m = _CARCS.search(detail)
    out = []
    for code in (m.group(1).split(",") if m else []):
        code = code.strip()
        if not code:
            continue
        group, _, reason = code.partition("-")
        out.append((group, reason) if reason else ("", group))
    return out


def denials(ctx: Context) -> Section:
    labels = ctx.periods.labels
    final: dict[str, list[int]] = defaultdict(ctx.zeros)
    denied: dict[str, list[int]] = defaultdict(ctx.zeros)
    for payer, day, category, count in ctx.store.final_reads(ctx.periods.start_ts, ctx.periods.end_ts):
        i = ctx.periods.index(day)
        if i is None or i < 0:
            continue
        final[payer][i] += count
        if category == "F2":
            denied[payer][i] += count
    payers = sorted(final)
    rate_rows = [[labels[i], p, final[p][i], denied[p][i], rate_of(denied[p][i], final[p][i])]
                 for i in range(len(labels)) for p in payers]
    rows_per = ctx.zeros()
    coding_rows = ctx.zeros()
    groups: dict[str, list[int]] = {g: ctx.zeros() for g in CARC_GROUPS}
    codes: Counter[str] = Counter()
    for _payer, day, detail, count in ctx.store.denial_details(ctx.periods.start_ts, ctx.periods.end_ts, DENIALS):
        i = ctx.periods.index(day)
        if i is None or i < 0:
            continue
        found = _carcs(detail)
        rows_per[i] += count
        if any(reason in CODING_CARCS for _g, reason in found):
            coding_rows[i] += count
        for group, reason in found:
            groups.setdefault(group or "?", ctx.zeros())[i] += count
            codes[f"{group}-{reason}" if group else reason] += count
    group_names = list(groups)
    carc_rows = [[labels[i], rows_per[i], coding_rows[i], rate_of(coding_rows[i], rows_per[i])]
                 + [groups[g][i] for g in group_names] for i in range(len(labels))]
    code_rows = [[code, code.split("-")[0] if "-" in code else "", "yes" if code.split("-")[-1] in CODING_CARCS else "no", n]
                 for code, n in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))]
    overall_final = [sum(final[p][i] for p in payers) for i in range(len(labels))]
    overall_denied = [sum(denied[p][i] for p in payers) for i in range(len(labels))]
    return Section(
        "denials", "Coding-related denials and denial rate by payer",
        "Denial rate: claims whose final portal read (claims.final, an X12 F category; the status_read audit "
        "record with that result) falls in the period by claims.status_checked_at; denied = category F2. "
        "Rate = denied / final reads. CARC groups: Denials rows (exceptions.queue = 'Denials') first seen in the "
        "period, by the adjustment codes the portal showed (the row's detail, carc=…): each code counts once per "
        "row under its group (CO contractual, PR patient responsibility, OA other, PI payer initiated, CR "
        "correction). Coding-related: a row with at least one reason code in " + ", ".join(sorted(CODING_CARCS, key=int))
        + " (procedure, modifier, diagnosis, bundling and code validity).",
        tables=[Table("Denial rate per period", ["Period", "Final reads", "Denied", "Denial rate (%)"],
                      [[labels[i], overall_final[i], overall_denied[i], rate_of(overall_denied[i], overall_final[i])]
                       for i in range(len(labels))]),
                Table("Denial rate per period and payer", ["Period", "Payer", "Final reads", "Denied",
                                                           "Denial rate (%)"], rate_rows, long=True),
                Table("CARC groups per period", ["Period", "Denial rows", "Coding-related rows",
                                                 "Coding-related (%)"] + [f"{g} codes" for g in group_names], carc_rows),
                Table("CARC codes over the range", ["CARC", "Group", "Coding-related", "Times shown"], code_rows)],
        charts=[Chart("Denial rate by payer (%)", "line", labels,
                      {p: rate_series(denied[p], final[p]) for p in payers}, "%"),
                Chart("CARC codes shown on denials", "bar", [r[0] for r in code_rows[:20]],
                      {"times shown": [float(r[3]) for r in code_rows[:20]]}, "rows")])


def rate_series(part: Sequence[int], whole: Sequence[int]) -> list[float | None]:
    return [rate_of(a, b) for a, b in zip(part, whole, strict=True)]


APPEALS_NOT_SET_UP = "not available: the appeal queue is not set up"  # no config/appeals.toml, no appeal opened


def appeals_set_up(ctx: Context) -> bool:
    """Set up: config/appeals.toml is there (when the caller knows) or an appeal was ever opened."""
    return bool(ctx.appeals_configured) or ctx.store.appeals_opened_ever() > 0


def rework(ctx: Context) -> Section:
    labels = ctx.periods.labels
    recurred = ctx.zeros()
    for _queue, _kind, is_recurred, day, count in ctx.bot_checks:
        i = ctx.periods.index(day)
        if is_recurred and i is not None and i >= 0:
            recurred[i] += count
    failed = ctx.audit_per_period("status_not_applied", lambda r: r[2])
    reopened = ctx.audit_per_period("retry_requested")[""]  # a defaultdict: zeros when there is none
    qa_rows: dict[str, list[int]] = {QA_REWORK: ctx.zeros(), QA_OVERTURNED: ctx.zeros()}
    qa_queues: Counter[tuple[int, str, str]] = Counter()
    for rule, queue, day, count in ctx.store.followup_rows(ctx.periods.start_ts, ctx.periods.end_ts,
                                                           (QA_REWORK, QA_OVERTURNED)):
        i = ctx.periods.index(day)
        if i is not None and i >= 0:
            qa_rows[rule][i] += count
            qa_queues[(i, rule, queue)] += count
    kinds = sorted(failed)
    sync_failed = [sum(failed[k][i] for k in kinds) for i in range(len(labels))]
    rows = [[labels[i], recurred[i], sync_failed[i], qa_rows[QA_REWORK][i], qa_rows[QA_OVERTURNED][i], reopened[i]]
            for i in range(len(labels))]
    by_kind = [[labels[i], k, failed[k][i]] for i in range(len(labels)) for k in kinds if failed[k][i]]
    by_queue = [[labels[i], rule, queue, n] for (i, rule, queue), n in
                sorted(qa_queues.items(), key=lambda kv: (kv[0][0], kv[0][1], queue_order([kv[0][2]])))]
    return Section(
        "rework", "Rework",
        "Recurred after sync: rows carrying the Bot Check \"" + RECURRED_CHECK + "\" (the bots found the finding "
        "again after its resolution was applied), in the period of their Last Seen. Sync failed: audit records "
        "status_not_applied (a resolution or status billing refused or could not map), by ts, split by result "
        "(not_found, not_offered, refused, unmapped). Failed QA: rows with Rule ID " + QA_REWORK + " (bot "
        "quality: a coder's resolution a QA reviewer failed; one per failed sample, its Sample ID as the item, "
        "the audit record qa_failed), by First Seen. Overturned in QA: rows with Rule ID " + QA_OVERTURNED
        + " (bot quality: a bot's decision a QA reviewer failed), by First Seen. Reopened: audit records "
        "retry_requested (a Bot Failures row resolved \"Retry by bot\" sent back to its bot).",
        note="Rows that recur after the bots Cleared them leave no record beyond Times Seen, so they are not "
             "counted." + ("" if ctx.sampling else " Failed QA and overturned in QA: " + NO_SAMPLING + "."),
        tables=[Table("Per period", ["Period", "Recurred after sync", "Sync failed", "Failed QA (rework rows)",
                                     "Overturned in QA", "Reopened (Retry by bot)"], rows),
                Table("Sync failures per period and kind", ["Period", "Kind", "Records"], by_kind, long=True),
                Table("QA rows opened per period and queue", ["Period", "Rule", "Queue", "Rows"], by_queue, long=True)],
        charts=[Chart("Rework per period", "line", labels,
                      {"recurred after sync": [float(v) for v in recurred], "sync failed": [float(v) for v in sync_failed],
                       "failed QA": [float(v) for v in qa_rows[QA_REWORK]],
                       "overturned in QA": [float(v) for v in qa_rows[QA_OVERTURNED]],
                       "reopened": [float(v) for v in reopened]}, "rows")])


def evidence(ctx: Context) -> Section:
    labels = ctx.periods.labels
    restored_series = ctx.audit_per_period("workbook_row_missing")[""]
    counts: Counter[tuple[str, str]] = Counter()
    for queue, kind, _recurred, _day, n in ctx.bot_checks:
        counts[(queue, kind)] += n
    queues = queue_order(q for q, _k in counts)
    kinds = [k for k, _p in BOT_CHECK_KINDS] + ["other"]
    table = [[q] + [counts.get((q, k), 0) for k in kinds] + [sum(counts.get((q, k), 0) for k in kinds)]
             for q in queues]
    per_kind = [sum(counts.get((q, k), 0) for q in queues) for k in kinds]
    return Section(
        "evidence", "Audit evidence exceptions (Bot Check)",
        "Now: rows carrying a Bot Check (exceptions.bot_check not blank) at the report's time, by queue and by "
        "the first kind their cell matches, in this order: " + "; ".join(f"{k} ({p})" for k, p in BOT_CHECK_KINDS)
        + "; other. Per period: rows the workbook lost and the bots restored (audit records workbook_row_missing, "
          "by ts).",
        note="The store keeps a row's current Bot Check only, so problems raised and fixed are counted per period "
             "only for the kind the audit trail records (rows restored); the other kinds are shown as of now.",
        tables=[Table("Bot Check problems now", ["Queue"] + kinds + ["Total"], table),
                Table("Rows restored per period", ["Period", "Rows restored"],
                      [[labels[i], restored_series[i]] for i in range(len(labels))])],
        charts=[Chart("Bot Check problems now, by kind", "bar", kinds, {"rows": [float(v) for v in per_kind]}, "rows")])


def senior_backlog(ctx: Context) -> Section:
    flow = _flow(ctx, ctx.flow, lambda _q, level: "senior" if level == SENIOR else None)
    opened, closed, open_end = flow.get("senior", (ctx.zeros(), ctx.zeros(), ctx.zeros()))
    labels = ctx.periods.labels
    today = ctx.now.date()
    ages: dict[str, list[int]] = defaultdict(lambda: [0] * len(AGE_BUCKETS))
    oldest: dict[str, int] = {}
    for event, queue, level, day, _count, count in ctx.flow:
        if event != "opened" or level != SENIOR or not count:
            continue
        age = (today - datetime.fromisoformat(day).date()).days
        for j, (lo, hi, _name) in enumerate(AGE_BUCKETS):
            if age >= lo and (hi is None or age <= hi):
                ages[queue][j] += count
        oldest[queue] = max(oldest.get(queue, 0), age)
    queues = queue_order(ages)
    now_rows = [[q, sum(ages[q]), oldest[q]] + ages[q] for q in queues]
    return Section(
        "senior_backlog", "Senior reviewer backlog",
        "Rows with Review Level Senior. " + CLOSED_DEF + "Per period: Senior rows opened (First Seen), closed, and "
        "open at the period's end. Now: Senior rows open at the report's time (not resolved, not cleared: the "
        "Summary sheet's Open (Senior)), by queue, with their age in whole days since First Seen (UTC dates).",
        tables=[Table("Per period", ["Period", "Opened", "Closed", "Open at end"],
                      [[labels[i], opened[i], closed[i], open_end[i]] for i in range(len(labels))]),
                Table("Open now, by age", ["Queue", "Open", "Oldest (days)"] + [b[2] for b in AGE_BUCKETS], now_rows)],
        charts=[Chart("Senior backlog at the end of each period", "line", labels,
                      {"open Senior rows": [float(v) for v in open_end]}, "rows"),
                Chart("Senior backlog now, by age", "bar", [b[2] for b in AGE_BUCKETS],
                      {"rows": [float(sum(ages[q][j] for q in queues)) for j in range(len(AGE_BUCKETS))]}, "rows")])
