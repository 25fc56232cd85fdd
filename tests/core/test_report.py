"""The leaders' dashboard (``bots report``): every figure against an independent computation over a
generated 8-week history, the HTML in a real Chromium (charts drawn, no console error, no request,
no PHI), the workbook's Trends sheet, the CLI's refusals and the daily write after the last run.

The history is the demo's sample worklist (plus one claim carrying the PHI canaries) with eight
weeks of synthetic findings, resolutions, syncs, scans, portal reads and runs written through the
store; the expected numbers are computed here from the store's plain views (``exception_rows``,
``audit_records``, ``claim_rows``, ``list_runs``) and the worklist file, not from the report's SQL.
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
import shutil
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from bots.cli import app
from bots.core.errors import ExceptionRecord
from bots.core.report import build_report, features_set_up, report_json, write_report
from bots.core.report.daily import write_daily_report
from bots.core.scheduler.job import after_run
from bots.core.settings import Settings
from bots.core.store import AuditEntry, Store
from bots.core.worklist import load_worklist
from bots.core.workbook import sync_workbook
from canaries import CANARY_DOB, CANARY_MEMBER, CANARY_NAME
from store_helpers import insert_row, set_columns

REPO = Path(__file__).resolve().parents[2]
FIRST = date(2026, 9, 7)  # a Monday
WEEKS = 8
LAST = FIRST + timedelta(weeks=WEEKS) - timedelta(days=1)
CODERS = ("Avery Lead", "Blake Coder", "Casey Coder")
RECURRED = "recurred after it was resolved and synced"
QUEUES = {  # queue -> (bot, rules)
    "Claim Edits": ("claim_edits", ("NCCI-PTP", "MUE", "MOD-25")),
    "Coding Queries": ("claim_edits", ("DX-POINTER", "TIME-MISSING")),
    "Documentation Requests": ("payer_portal", ("PORTAL-P3",)),
    "Denials": ("payer_portal", ("PORTAL-F2",)),
    "Payment Variances": ("payer_portal", ("PAY-VARIANCE",)),
    "Bot Failures": ("status_sync", ("BOT-FAILURE",)),
}
DENIAL_DETAILS = ("F2|Denied|carc=CO-4,PR-1", "F2|Denied|carc=CO-45", "F2|Denied|carc=CO-97,CO-45", "F2|Denied|carc=")
CODING_DETAILS = {"F2|Denied|carc=CO-4,PR-1", "F2|Denied|carc=CO-97,CO-45"}  # CARC 4 and 97 are coding-related
SCAN_RULES = ("NCCI-PTP", "MUE", "MOD-25")


# ---- the generated history ----------------------------------------------------------------------------

def _ts(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _worklist(tmp_path: Path) -> Path:
    """The demo's sample worklist plus one claim whose patient and member are the PHI canaries."""
    path = tmp_path / "worklist.csv"
    shutil.copy(REPO / "mock_portals" / "data" / "sample_worklist.csv", path)
    with path.open("a", newline="") as fh:
        csv.writer(fh).writerow(["CLM-9999", "acme", CANARY_MEMBER, CANARY_NAME, CANARY_DOB, "2026-09-01",
                                 "1234567893", "1", "99213", "", "1", "125.00", "I10", "1", "", "N-9", "Y",
                                 "2026-09-01", "", "", "100.00"])
    return path


def _lines_per_claim(path: Path) -> Counter[str]:
    with path.open(newline="") as fh:
        return Counter(f"{r['payer_id']}:{r['claim_id']}" for r in csv.DictReader(fh))


def generate_history(store: Store, tmp_path: Path, seed: int = 16) -> Counter[str]:
    """Eight weeks (and the week before) of findings, resolutions, scans, reads and runs; returns the
    worklist's service lines per claim key (what the test counts lines scanned from)."""
    rng = random.Random(seed)
    path = _worklist(tmp_path)
    load_worklist(store, path)
    lines = _lines_per_claim(path)
    claims = store.claim_rows()
    start = datetime.combine(FIRST - timedelta(days=7), datetime.min.time())
    span = (WEEKS + 1) * 7 * 86400

    def moment(after: datetime | None = None, hours: tuple[float, float] = (0.5, 400)) -> datetime:
        if after is None:
            return start + timedelta(seconds=rng.uniform(0, span))
        return after + timedelta(hours=rng.uniform(*hours))

    # findings: one call per (bot, claim), as the runner records an item's outcome
    per_item: dict[tuple[str, str], list[ExceptionRecord]] = {}
    for claim in claims:
        for _ in range(rng.choice((1, 2, 3, 4, 5))):
            queue = rng.choice(list(QUEUES))
            bot, rules = QUEUES[queue]
            detail = rng.choice(DENIAL_DETAILS) if queue == "Denials" else f"d{rng.randint(1, 99)}"
            per_item.setdefault((bot, claim["claim_key"]), []).append(ExceptionRecord(
                queue=queue, rule_id=rng.choice(rules), reason="needs review", detail=detail,
                review_level="Senior" if rng.random() < 0.3 else "Entry", line_no=1, claim_id=claim["claim_id"]))
    by_key = {c["claim_key"]: c for c in claims}
    with store.begin() as conn:
        for (bot, key), records in per_item.items():
            c = by_key[key]
            store.record_exceptions(conn, bot=bot, item_ref=key, run_id="gen", records=records,
                                    claim={"claim_id": c["claim_id"], "payer_id": c["payer_id"],
                                           "patient_name": c["patient_name"], "date_of_service": c["date_of_service"],
                                           "total_charge": c["total_charge"]})
    for row in sorted(store.exception_rows(), key=lambda r: r["exception_id"]):  # the same on every database
        first = moment()
        values: dict[str, Any] = {"first_seen": _ts(first), "last_seen": _ts(first)}
        fate = rng.random()
        if fate < 0.45:  # resolved by a coder
            coder = rng.choice(CODERS)
            updated = moment(first)
            values.update(status=rng.choice(("Resolved", "Resolved", "resolved ")), resolved_by=coder,
                          resolution="Retry by bot" if row["queue"] == "Bot Failures" else "Corrected",
                          resolution_note="fixed", coder_updated_at=_ts(updated))
            if rng.random() < 0.7:  # applied to billing
                synced = moment(updated, (0.1, 60))
                values.update(bot_status="Synced", synced_at=_ts(synced))
                if rng.random() < 0.25:  # and found again afterwards
                    values.update(bot_status="Open", bot_check=RECURRED, last_seen=_ts(moment(synced, (1, 200))))
                elif rng.random() < 0.1:  # a coder edited the note after it synced
                    values.update(coder_updated_at=_ts(moment(synced, (1, 5))))
        elif fate < 0.65:  # the bots no longer find it
            values.update(bot_status="Cleared", last_seen=_ts(moment(first)))
        elif fate < 0.75:  # a Bot Check waits for the coder
            values.update(status="In Progress", bot_check=rng.choice(
                ("missing Resolution Note", "Exception ID EX-1 is also on row 9",
                 "This row was missing from the workbook written at 2026-10-01 09:00")))
        elif fate < 0.85:
            values.update(status="In Progress", assigned_to=rng.choice(CODERS))
        set_columns(store, "exceptions", {"exception_id": row["exception_id"]}, **values)

    # the audit trail, in time order (a claim's first scan is its lowest seq)
    entries: list[AuditEntry] = []
    for claim in claims:
        key = claim["claim_key"]
        for _ in range(rng.choice((1, 1, 2))):
            at = _ts(moment())
            fails = [r for r in SCAN_RULES if rng.random() < 0.2]
            for rule in SCAN_RULES:
                entries.append(AuditEntry(action="rule_evaluated", result="fail" if rule in fails else "pass",
                                          bot="claim_edits", item_ref=key, claim_id=claim["claim_id"], rule_id=rule,
                                          ts=at))
            result = rng.choice(("fault",)) if rng.random() < 0.05 else ("exception" if fails else "done")
            entries.append(AuditEntry(action="item_outcome", result=result, bot="claim_edits", item_ref=key,
                                      claim_id=claim["claim_id"], ts=at,
                                      detail={"member": CANARY_MEMBER} if claim["claim_id"] == "CLM-9999" else None))
    for action, results, n in (("status_not_applied", ("not_found", "refused", "unmapped"), 14),
                               ("retry_requested", ("reopened",), 7), ("workbook_row_missing", ("New",), 5),
                               ("status_read", ("F1", "F2"), 20)):
        for _ in range(n):
            entries.append(AuditEntry(action=action, result=rng.choice(results), bot="status_sync", ts=_ts(moment())))
    entries.sort(key=lambda e: e.ts or "")
    store.audit(entries)

    # portal reads: final (F) categories for some claims, a pending one for others
    for claim in claims:
        roll = rng.random()
        if roll < 0.6:
            set_columns(store, "claims", {"claim_key": claim["claim_key"]},
                        status_category=rng.choice(("F1", "F1", "F2", "F4")), final=True,
                        status_checked_at=_ts(moment())[:19])
        elif roll < 0.8:
            set_columns(store, "claims", {"claim_key": claim["claim_key"]}, status_category="P1", final=False,
                        status_checked_at=_ts(moment())[:19])

    # run history
    for n in range(60):
        began = moment()
        status = rng.choice(("succeeded",) * 6 + ("degraded", "failed", "missed", "skipped", "crashed"))
        items = rng.randint(0, 40)
        insert_row(store, "runs", run_id=f"gen-run-{n}", bot=rng.choice(("claim_edits", "payer_portal", "status_sync")),
                   trigger="scheduler", status=status, started_at=_ts(began), ended_at=_ts(moment(began, (0.01, 1))),
                   items=items, done=items // 2, exceptions=items // 4, failed=rng.randint(0, 2), deferred=0,
                   carried_over=rng.randint(0, 3) if status == "degraded" else 0, retries=rng.randint(0, 4))
    return lines


# ---- independent computations -------------------------------------------------------------------------

def week(ts: str | None) -> int | None:
    """The period of a timestamp: 0…7, -1 before the range, None after it (or blank)."""
    if not ts:
        return None
    d = date.fromisoformat(ts[:10])
    if d < FIRST:
        return -1
    i = (d - FIRST).days // 7
    return i if i < WEEKS else None


def week_end(i: int) -> str:
    return (FIRST + timedelta(weeks=i + 1)).isoformat()


def resolved(row: dict[str, Any]) -> bool:
    return (row["status"] or "").strip().lower() == "resolved"


def closed_at(row: dict[str, Any]) -> str | None:
    if resolved(row):
        return row["coder_updated_at"]
    return row["last_seen"] if row["bot_status"] == "Cleared" else None


def hours(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds() / 3600


def rank(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def near(got: float | None, want: float | None) -> bool:
    if want is None:
        return got is None
    return got is not None and abs(got - want) <= 0.051


def pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def flow(rows: list[dict[str, Any]]) -> tuple[list[int], list[int], list[int]]:
    opened = [sum(1 for r in rows if week(r["first_seen"]) == i) for i in range(WEEKS)]
    closed = [sum(1 for r in rows if week(closed_at(r)) == i) for i in range(WEEKS)]
    open_end = [sum(1 for r in rows if r["first_seen"] < week_end(i) and not (closed_at(r) and closed_at(r) < week_end(i)))
                for i in range(WEEKS)]
    return opened, closed, open_end


@pytest.fixture
def history(store: Store, tmp_path: Path) -> Counter[str]:
    return generate_history(store, tmp_path)


def test_every_figure_equals_an_independent_computation_over_eight_weeks(store: Store, history: Counter[str]) -> None:
    now = datetime(2026, 11, 2, 12, 0)
    rep = build_report(store, FIRST, LAST, "week", now=now)
    rows = store.exception_rows()
    audit = store.audit_records()
    assert rep.periods == [f"2026-W{n}" for n in range(37, 45)]
    assert len(rows) > 150 and len(audit) > 400  # a history worth the name

    # every section prints its definition; the missing features say so
    for section in rep.sections:
        assert len(section.definition) > 40, section.key
    assert rep.section("appeals").note == "not available: the appeal queue is not set up"
    assert rep.section("quality").note == "not available: quality sampling is not set up"
    assert not rep.section("appeals").available and not rep.section("quality").available

    # documentation query volume
    table = rep.section("documentation_queries").table("Per period")
    for queue in ("Documentation Requests", "Coding Queries"):
        opened, closed, open_end = flow([r for r in rows if r["queue"] == queue])
        assert table.column(f"{queue}: opened") == opened
        assert table.column(f"{queue}: closed") == closed
        assert table.column(f"{queue}: open at end") == open_end
    assert sum(table.column("Coding Queries: opened")) > 0

    # coding review turnaround
    table = rep.section("turnaround").table("Per period")
    for i in range(WEEKS):
        hs = [hours(r["first_seen"], r["coder_updated_at"]) for r in rows
              if resolved(r) and r["queue"] != "Bot Failures" and week(r["coder_updated_at"]) == i]
        assert table.rows[i][1] == len(hs)
        assert near(table.rows[i][2], rank(hs, 0.5)) and near(table.rows[i][3], rank(hs, 0.9)), i
    detail = rep.section("turnaround").table("Per period, queue and review level")
    for period, queue, level, n, median, p90 in detail.rows:
        i = rep.periods.index(period)
        hs = [hours(r["first_seen"], r["coder_updated_at"]) for r in rows if resolved(r) and r["queue"] == queue
              and r["review_level"] == level and week(r["coder_updated_at"]) == i]
        assert n == len(hs) and near(median, rank(hs, 0.5)) and near(p90, rank(hs, 0.9))

    # claim edit frequency and first-pass clean rate
    outcomes = [a for a in audit if a["action"] == "item_outcome" and a["bot"] == "claim_edits"]
    first: dict[str, dict[str, Any]] = {}
    for a in outcomes:  # chain order: the first one seen is the lowest seq
        first.setdefault(a["item_ref"], a)
    table = rep.section("claim_edits").table("Per period")
    for i in range(WEEKS):
        lines = sum(history[a["item_ref"]] for a in outcomes if week(a["ts"]) == i)
        edits = sum(1 for a in audit if a["action"] == "rule_evaluated" and a["result"] == "fail" and week(a["ts"]) == i)
        passes = [a for a in first.values() if week(a["ts"]) == i and a["result"] in ("done", "exception")]
        clean = sum(1 for a in passes if a["result"] == "done")
        assert table.rows[i][1:] == [lines, edits, round(1000 * edits / lines, 1) if lines else None, len(passes), clean,
                                     pct(clean, len(passes))], i
    per_rule = {r[0]: r[1] for r in rep.section("claim_edits").table("Per rule over the range").rows}
    assert per_rule == dict(Counter(a["rule_id"] for a in audit if a["action"] == "rule_evaluated"
                                    and a["result"] == "fail" and week(a["ts"]) not in (None, -1)))

    # denials: rate by payer from the final reads, coding-related CARC groups from the Denials rows
    claims = store.claim_rows()
    table = rep.section("denials").table("Denial rate per period")
    for i in range(WEEKS):
        final = [c for c in claims if c["final"] and (c["status_category"] or "").startswith("F")
                 and week(c["status_checked_at"]) == i]
        denied = sum(1 for c in final if c["status_category"] == "F2")
        assert table.rows[i][1:] == [len(final), denied, pct(denied, len(final))], i
    by_payer = rep.section("denials").table("Denial rate per period and payer")
    for period, payer, final_n, denied_n, _rate in by_payer.rows:
        i = rep.periods.index(period)
        final = [c for c in claims if c["payer_id"] == payer and c["final"] and week(c["status_checked_at"]) == i
                 and (c["status_category"] or "").startswith("F")]
        assert (final_n, denied_n) == (len(final), sum(1 for c in final if c["status_category"] == "F2"))
    table = rep.section("denials").table("CARC groups per period")
    for i in range(WEEKS):
        denial_rows = [r for r in rows if r["queue"] == "Denials" and week(r["first_seen"]) == i]
        coding = sum(1 for r in denial_rows if r["detail"] in CODING_DETAILS)
        assert table.rows[i][1:3] == [len(denial_rows), coding], i

    # rework
    table = rep.section("rework").table("Per period")
    for i in range(WEEKS):
        recurred = sum(1 for r in rows if RECURRED in (r["bot_check"] or "") and week(r["last_seen"]) == i)
        failed = sum(1 for a in audit if a["action"] == "status_not_applied" and week(a["ts"]) == i)
        reopened = sum(1 for a in audit if a["action"] == "retry_requested" and week(a["ts"]) == i)
        assert table.rows[i][1:] == [recurred, failed, 0, 0, reopened], i  # no QA: nothing failed or overturned

    # audit evidence exceptions
    section = rep.section("evidence")
    assert section.table("Rows restored per period").column("Rows restored") == [
        sum(1 for a in audit if a["action"] == "workbook_row_missing" and week(a["ts"]) == i) for i in range(WEEKS)]
    assert sum(section.table("Bot Check problems now").column("Total")) == sum(1 for r in rows if r["bot_check"])

    # senior reviewer backlog
    senior = [r for r in rows if r["review_level"] == "Senior"]
    opened, closed, open_end = flow(senior)
    table = rep.section("senior_backlog").table("Per period")
    assert (table.column("Opened"), table.column("Closed"), table.column("Open at end")) == (opened, closed, open_end)
    now_table = rep.section("senior_backlog").table("Open now, by age")
    open_now = [r for r in senior if closed_at(r) is None]
    assert sum(now_table.column("Open")) == len(open_now)
    assert max(now_table.column("Oldest (days)")) == max(
        (now.date() - date.fromisoformat(r["first_seen"][:10])).days for r in open_now)

    # handoff delay: coder resolution -> billing updated
    table = rep.section("handoffs").table("Coder resolution → billing updated, per period")
    for i in range(WEEKS):
        hs = [hours(r["coder_updated_at"], r["synced_at"]) for r in rows
              if resolved(r) and r["bot_status"] == "Synced" and r["resolution"] != "Retry by bot"
              and r["synced_at"] >= r["coder_updated_at"] and week(r["synced_at"]) == i]
        assert table.rows[i][1] == len(hs) and near(table.rows[i][2], rank(hs, 0.5)) and near(table.rows[i][3], rank(hs, 0.9))
    assert sum(table.column("Resolutions applied")) > 0

    # bot operations
    runs = store.list_runs(last=10_000)
    table = rep.section("operations").table("Per period")
    for i in range(WEEKS):
        ran = [r for r in runs if week(r["started_at"]) == i and r["status"] not in ("missed", "skipped", "running")]
        ok = sum(1 for r in ran if r["status"] == "succeeded")
        items = sum(r["items"] for r in ran)
        assert table.rows[i][1:] == [
            len(ran), ok, pct(ok, len(ran)), items, round(items / len(ran), 1) if ran else None,
            sum(r["retries"] for r in ran), sum(r["failed"] for r in ran), sum(r["carried_over"] for r in ran),
            sum(1 for r in runs if week(r["started_at"]) == i and r["status"] in ("missed", "skipped"))], i

    # the training view
    table = rep.section("training").table("Per coder")
    mine = [r for r in rows if resolved(r) and r["queue"] != "Bot Failures" and week(r["coder_updated_at"]) not in (None, -1)]
    for coder, n, median, _p90, recurred, failed_qa, reworked, _rate, *qa, top in table.rows:
        theirs = [r for r in mine if r["resolved_by"] == coder]
        assert n == len(theirs) and reworked == recurred == sum(1 for r in theirs if RECURRED in (r["bot_check"] or ""))
        assert failed_qa == 0 and qa == [0, 0, 0, None]  # no quality sampling in this history
        assert near(median, rank([hours(r["first_seen"], r["coder_updated_at"]) for r in theirs], 0.5))
        rule, count = top.split(", ")[0].rsplit(" (", 1)
        rules = Counter(r["rule_id"] for r in theirs)
        assert rules[rule] == int(count[:-1]) == max(rules.values())
    assert {r[0] for r in table.rows} == set(CODERS)
    assert rep.section("training").note == "QA findings per coder: not available: quality sampling is not set up."


def test_coder_names_stay_out_when_turned_off_and_no_phi_reaches_html_or_json(
        store: Store, history: Counter[str], tmp_path: Path) -> None:
    rep = build_report(store, FIRST, LAST, "week", coder_names=False)
    write_report(rep, tmp_path / "d.html", tmp_path / "d.json")
    for text in ((tmp_path / "d.html").read_text(), (tmp_path / "d.json").read_text()):
        for secret in (CANARY_NAME, CANARY_MEMBER, CANARY_DOB, "CLM-9999", "CLM-1001", *CODERS):
            assert secret not in text
    assert rep.section("training").note.startswith("coder names are turned off")
    assert json.loads((tmp_path / "d.json").read_text())["sections"][0]["key"] == "documentation_queries"


def test_monthly_periods_cover_whole_months(store: Store, history: Counter[str]) -> None:
    rep = build_report(store, date(2026, 9, 15), date(2026, 10, 2), "month")
    assert rep.periods == ["2026-09", "2026-10"] and (rep.range_from, rep.range_to) == ("2026-09-01", "2026-10-31")
    rows = store.exception_rows()
    opened = rep.section("documentation_queries").table("Per period").column("Coding Queries: opened")
    assert opened == [sum(1 for r in rows if r["queue"] == "Coding Queries" and r["first_seen"][:7] == m)
                      for m in ("2026-09", "2026-10")]


@pytest.mark.browser
def test_dashboard_in_chromium_draws_every_chart_offline_without_console_errors_or_phi(
        page: Any, store: Store, history: Counter[str], tmp_path: Path) -> None:
    rep = build_report(store, FIRST, LAST, "week")
    html, js = tmp_path / "dashboard.html", tmp_path / "dashboard.json"
    write_report(rep, html, js)
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html.as_uri())
    page.wait_for_load_state("load")
    charts = page.locator("div.chart > svg")
    expected = sum(len(s.charts) for s in rep.sections if s.available)
    assert charts.count() == expected >= 12
    for n in range(expected):
        chart = charts.nth(n)
        box = chart.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 80
        assert chart.evaluate("svg => svg.querySelectorAll('path, rect, text, use').length") > 10
    assert errors == []
    assert requests == [html.as_uri()]  # the page itself; nothing leaves the file
    assert page.locator("section#appeals").inner_text().count("not available: the appeal queue is not set up") == 1
    for text in (html.read_text(), js.read_text()):
        for secret in (CANARY_NAME, CANARY_MEMBER, CANARY_DOB, "CLM-9999"):
            assert secret not in text
    page_text = html.read_text()
    for namespace in ('xmlns="http://www.w3.org/2000/svg"', 'xmlns:xlink="http://www.w3.org/1999/xlink"'):
        page_text = page_text.replace(namespace, "")  # SVG namespace names, never fetched
    assert not re.search(r"<script|https?://|@import|@font-face|url\((?!#)|<link|<img", page_text)


def test_trends_sheet_reopens_with_zeros_for_empty_weeks_and_the_reader_passes_it_by(
        settings: Settings, store: Store, history: Counter[str]) -> None:
    first = sync_workbook(settings, store)
    assert first.written and not first.problems
    wb = load_workbook(settings.workbook_path)
    assert wb.sheetnames[-1] == "Trends" and wb.sheetnames[0] == "Summary"
    cells = [row for row in wb["Trends"].iter_rows(values_only=True)]
    wb.close()
    # the generated history ends on 2026-11-01; the sheet's last weeks reach today, so several are empty
    headers = next(i for i, r in enumerate(cells) if r[:2] == ("Period", "Documentation Requests: opened"))
    weekly = cells[headers + 1:headers + 1 + settings.config.report.trends_weeks]
    assert all(isinstance(v, int) for r in weekly for v in r[1:7])  # counts, never blank or an error
    after_history = [r for r in weekly if r[0] >= "2026-W45"]  # nothing was first seen after 2026-11-01
    assert after_history and all(r[1] == 0 and r[4] == 0 for r in after_history)
    assert not any(isinstance(v, str) and v.startswith("#") for r in cells for v in r)  # no Excel errors
    assert any(r and r[0] == "Definition" for r in cells)
    for r in cells:
        for v in r:
            assert not (isinstance(v, str) and any(s in v for s in (CANARY_NAME, CANARY_MEMBER, *CODERS)))
    again = sync_workbook(settings, store)  # the Trends sheet in the file is neither merged nor kept aside
    assert again.written and not again.problems
    assert not list(settings.workbook_path.parent.glob("*.unmerged-*"))


def _cli(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir), *args])


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-02-30"], "--from '2026-02-30' is not a date"),
    (["--to", "yesterday"], "--to 'yesterday' is not a date"),
    (["--from", "2026-11-02", "--to", "2026-10-01"], "--to 2026-10-01 is before --from 2026-11-02"),
    (["--by", "day"], "--by 'day': use week or month"),
])
def test_bad_dates_exit_2_with_a_clear_message(settings: Settings, args: list[str], message: str) -> None:
    result = _cli(settings, "report", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_writes_html_and_json_and_prints_the_figures(settings: Settings, store: Store,
                                                        history: Counter[str], tmp_path: Path) -> None:
    out = tmp_path / "out" / "board.html"
    result = _cli(settings, "report", "--from", FIRST.isoformat(), "--to", LAST.isoformat(), "--by", "week",
                  "--out", str(out), "--json", "--no-coder-names")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout[result.stdout.index("{"):result.stdout.rindex("}") + 1])
    assert printed["periods"] == [f"2026-W{n}" for n in range(37, 45)] and not printed["coder_names"]
    assert json.loads(out.with_suffix(".json").read_text()) == printed
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert report_json(build_report(store, FIRST, LAST, "week", coder_names=False, **features_set_up(settings),
                                    now=datetime.fromisoformat(printed["generated_at"]))) == \
        out.with_suffix(".json").read_text()


def _reporting(settings: Settings) -> Settings:
    toml = settings.config_dir / "bots.toml"
    toml.write_text(toml.read_text() + '\n[report]\nafter_last_run = true\nout = "reports/daily.html"\n')
    return Settings(home=settings.home, config_dir=settings.config_dir, _env_file=None)


def test_scheduler_writes_the_dashboard_once_after_the_last_run_of_the_day(
        settings: Settings, store: Store, history: Counter[str]) -> None:
    daily = _reporting(settings)
    # bots.toml's schedules (America/New_York, weekdays): 06:00, 06:30, 07:00 and 13:00
    morning = datetime(2026, 11, 30, 12, 5, tzinfo=UTC)  # 07:05 in New York: status_sync runs again at 13:00
    assert write_daily_report(daily, store, morning) is None
    assert not daily.report_path.exists()
    after_last = datetime(2026, 11, 30, 18, 10, tzinfo=UTC)  # 13:10 in New York
    after_run(daily, store, now=after_last)  # what the scheduled job does after each run
    assert daily.report_path.is_file() and daily.report_path.with_suffix(".json").is_file()
    written = daily.report_path.stat().st_mtime_ns
    assert write_daily_report(daily, store, after_last + timedelta(minutes=20)) is None  # once a day
    assert daily.report_path.stat().st_mtime_ns == written
    assert write_daily_report(daily, store, after_last + timedelta(days=1)) == daily.report_path  # next day
    (settings.config_dir / "bots.toml").write_text(
        (settings.config_dir / "bots.toml").read_text().replace("after_last_run = true", "after_last_run = false"))
    off = Settings(home=settings.home, config_dir=settings.config_dir, _env_file=None)
    assert write_daily_report(off, store, after_last + timedelta(days=2)) is None
