"""The dashboard's appeal figures (issue 16): appeals opened, completed, submitted, deadlines missed,
outcomes, open appeals with documentation gaps, and the denial read → appeal opened delay, each
checked against an independent count from the store; appeals opened through the real workbook
merge, as in test_appeals.py."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from workbook_helpers import Finding, coder_edit, report, stored

from bots.core.report import build_report, write_report
from bots.core.settings import Settings
from bots.core.store import AuditEntry, Store, utcnow
from bots.core.store.schema import exceptions
from bots.core.workbook import sync_workbook

CLAIMS = {"CLM-2001": "CO-50", "CLM-2002": "CO-50", "CLM-2003": "CO-197"}
PATIENT = "DOE, JANE"  # the patient workbook_helpers.report stores: must never reach the dashboard
MED_DOCS = ("Doc: Signed note", "Doc: Order", "Doc: Letter of medical necessity")
DELAYS = {"CLM-2001": 30.0, "CLM-2002": 50.0, "CLM-2003": 100.0}  # hours from denial read to appeal opened
EVENTS = {"Opened": "opened_at", "Completed": "completed_at", "Submitted": "submitted_at",
          "Deadlines missed": "missed_at"}


def _denials(store: Store) -> dict[str, str]:
    """Three denials as payer_portal records them (rows and status_read records): claim -> row id."""
    report(store, "run-1", [Finding(c, queue="Denials", rule_id="PORTAL-F2", detail=f"F2|Denied|carc={code}",
                                    bot="payer_portal") for c, code in CLAIMS.items()])
    with store.begin() as conn:
        store.append_audit(conn, [AuditEntry(
            action="status_read", result="F2", bot="payer_portal", item_ref=f"acme:{c}", claim_id=c,
            detail={"payer": "acme", "word": "Denied", "category": "F2", "status_date": "2026-09-26",
                    "paid_date": None, "carc": [{"code": code, "group": "CO", "reason": code[3:]}]})
            for c, code in CLAIMS.items()])
    return {r["claim_id"]: r["exception_id"] for r in stored(store).values() if r["queue"] == "Denials"}


def _appeals_through_the_workbook(settings: Settings, store: Store) -> dict[str, str]:
    """Each denial resolved as Appeal; CLM-2001's appeal complete, submitted and won; CLM-2002's with one
    document ticked; CLM-2003's untouched; then a merge past the deadline. Returns claim -> appeal id."""
    today = date(2026, 11, 30)
    denials = _denials(store)
    path = settings.workbook_path
    sync_workbook(settings, store, today=today)
    coder_edit(path, "Denials", {d: {"Status": "Resolved", "Resolution": "Appeal", "Resolution Note": "appeal it",
                                     "Resolved By": "jlee"} for d in denials.values()})
    sync_workbook(settings, store, today=today)
    appeal = {a["claim_id"]: a["appeal_id"] for a in store.appeals()}
    assert set(appeal) == set(CLAIMS)
    coder_edit(path, "Appeal Preparation", {
        appeal["CLM-2001"]: {**dict.fromkeys(MED_DOCS, "Yes"), "Appeal Letter Ref": "LTR-1", "Submitted On": "2026-11-30",
                             "Submission Ref": "ACME-APL-1", "Status": "Resolved", "Resolution": "Appeal submitted",
                             "Resolution Note": "filed", "Resolved By": "jlee"},
        appeal["CLM-2002"]: {"Doc: Signed note": "Yes"}})
    sync_workbook(settings, store, today=today)
    with store.begin() as conn:  # what status_sync's settled outcome does once billing shows it
        store.mark_synced(conn, appeal["CLM-2001"], run_id="run-sync")
    sync_workbook(settings, store, today=today)
    with store.begin() as conn:  # the payer paid after the appeal
        store.append_audit(conn, [AuditEntry(action="status_read", result="F1", bot="payer_portal",
                                             item_ref="acme:CLM-2001", claim_id="CLM-2001",
                                             detail={"payer": "acme", "category": "F1", "status_date": "2026-12-20"})])
    sync_workbook(settings, store, today=today)
    sync_workbook(settings, store, today=date(2027, 3, 26))  # past the deadline: the two open ones are missed
    # The denials were read some hours before their appeals opened.
    with store.begin() as conn:
        for a in store.appeals(conn):
            opened = datetime.fromisoformat(a["opened_at"])
            conn.execute(update(exceptions).where(exceptions.c.exception_id == a["source_id"])
                         .values(first_seen=(opened - timedelta(hours=DELAYS[a["claim_id"]])).isoformat()))
    return appeal


def _in(ts: str | None, first: date, last: date) -> bool:
    return ts is not None and first <= date.fromisoformat(ts[:10]) <= last


def _rank(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(p * len(ordered)) - 1)], 1)


def _open_gaps(store: Store) -> dict[tuple[str, str], list[int]]:
    """Independently: per (payer, category), open appeals (row not Synced, not Cleared), those with a gap,
    documents not ticked Yes, submission details blank."""
    status = {r["exception_id"]: r["bot_status"] for r in store.exception_rows(queue="Appeal Preparation")}
    out: dict[tuple[str, str], list[int]] = {}
    for a in store.appeals():
        if status[a["appeal_id"]] in ("Synced", "Cleared"):
            continue
        ticked = json.loads(a["checklist"] or "{}")
        docs = sum(1 for i in json.loads(a["items"]) if str(ticked.get(i, "")).lower() != "yes")
        details = sum(1 for k in ("letter_ref", "submitted_on", "submission_ref") if not (a[k] or "").strip())
        g = out.setdefault((a["payer_id"], a["category"]), [0, 0, 0, 0])
        g[0] += 1
        g[1] += bool(docs or details)
        g[2] += docs
        g[3] += details
    return out


def test_appeal_figures_equal_independent_counts_from_the_store_and_carry_no_phi(
        settings: Settings, store: Store, tmp_path: Path) -> None:
    _appeals_through_the_workbook(settings, store)
    last = utcnow().date()
    first = last - timedelta(days=7)
    rep = build_report(store, first, last, "week")
    lo, hi = date.fromisoformat(rep.range_from), date.fromisoformat(rep.range_to)
    sec = rep.section("appeals")
    assert sec.available and not sec.note
    for action in ("appeal_opened", "appeal_complete", "appeal_submitted", "appeal_deadline_missed", "appeal_outcome"):
        assert action in sec.definition

    rows = store.appeals()
    table = sec.table("Per period")
    assert len(table.rows) == len(rep.periods) == 2
    for name, col in EVENTS.items():
        assert sum(table.column(name)) == sum(_in(a[col], lo, hi) for a in rows), name
    for name, outcome in (("Won", "won"), ("Upheld", "upheld")):
        assert sum(table.column(name)) == sum(a["outcome"] == outcome and _in(a["outcome_at"], lo, hi) for a in rows)
    # the same from the audit trail, and as the flow above must have left it
    assert sum(table.column("Opened")) == len(store.audit_records(action="appeal_opened")) == 3
    assert sum(table.column("Completed")) == len(store.audit_records(action="appeal_complete")) == 1
    assert sum(table.column("Submitted")) == len(store.audit_records(action="appeal_submitted")) == 1
    assert sum(table.column("Deadlines missed")) == len(store.audit_records(action="appeal_deadline_missed")) == 2
    outcomes = Counter(r["result"] for r in store.audit_records(action="appeal_outcome"))
    assert (sum(table.column("Won")), sum(table.column("Upheld"))) == (outcomes["won"], outcomes["upheld"]) == (1, 0)
    assert table.rows[-1][0] == rep.periods[-1] and table.rows[0][1:] == [0] * 6  # everything happened this week

    detail = sec.table("Per period, payer and denial category")
    got = {(r[1], r[2]): r[3] for r in detail.rows}
    assert got == dict(Counter((a["payer_id"], a["category"]) for a in rows)) == {
        ("acme", "Medical necessity"): 2, ("acme", "Authorization"): 1}

    gaps = sec.table("Open appeals with documentation gaps now, by payer and denial category")
    assert {(r[0], r[1]): r[2:] for r in gaps.rows} == _open_gaps(store) == {
        ("acme", "Medical necessity"): [1, 1, 2, 3], ("acme", "Authorization"): [1, 1, 1, 3]}

    handoffs = rep.section("handoffs")
    assert "appeal opened" not in handoffs.note
    delay = handoffs.table("Denial read → appeal opened, per period")
    source_seen = {r["exception_id"]: r["first_seen"] for r in store.exception_rows(queue="Denials")}
    hours = [(datetime.fromisoformat(a["opened_at"]) - datetime.fromisoformat(source_seen[a["source_id"]]))
             .total_seconds() / 3600 for a in rows if _in(a["opened_at"], lo, hi)]
    assert sum(delay.column("Appeals opened")) == len(hours) == 3
    [this_week] = [r for r in delay.rows if r[1]]
    assert this_week[2:] == [_rank(hours, 0.5), _rank(hours, 0.9)] == [50.0, 100.0]

    write_report(rep, tmp_path / "d.html", tmp_path / "d.json")
    for text in ((tmp_path / "d.html").read_text(), (tmp_path / "d.json").read_text()):
        for secret in (PATIENT, *CLAIMS):
            assert secret not in text


def test_without_appeals_the_section_says_not_available_unless_appeals_toml_is_there(
        settings: Settings, store: Store, tmp_path: Path) -> None:
    _denials(store)
    sync_workbook(settings, store, today=date(2026, 11, 30))
    last = utcnow().date()
    rep = build_report(store, last - timedelta(days=7), last, "week")
    assert not rep.section("appeals").available
    assert rep.section("appeals").note == "not available: the appeal queue is not set up"
    assert rep.section("handoffs").note == "Denial read → appeal opened: not available: the appeal queue is not set up."
    # config/appeals.toml is there (as the daily report tells it): zeros, not "not available"
    rep = build_report(store, last - timedelta(days=7), last, "week", appeals_configured=True)
    sec = rep.section("appeals")
    assert sec.available and all(v == 0 for r in sec.table("Per period").rows for v in r[1:])
    assert sec.table("Open appeals with documentation gaps now, by payer and denial category").rows == []
    assert [r[1] for r in rep.section("handoffs").table("Denial read → appeal opened, per period").rows] == [0, 0]
    write_report(rep, tmp_path / "d.html")  # empty charts draw "no data in this range"
    assert "no data in this range" in (tmp_path / "d.html").read_text()
