"""Appeal Preparation (issue 15): a denial resolved with an appeal opens one appeal row with its
checklist and deadline; it cannot close without its evidence; near its deadline with gaps it goes to
a senior; past it, it is flagged and counted. Through the real workbook file, reopened with openpyxl."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from config_helpers import edit_toml
from bots.cli import app
from bots.cli.config import check_config
from bots.core.errors import ConfigError
from bots.core.settings import Settings
from bots.core.store import AuditEntry, Store
from bots.core.workbook import sync_workbook
from workbook_helpers import Finding, coder_edit, report, rows_by_id, sheet_rows, stored

DENIED_ON = "2026-09-26"  # the status date the acme portal shows with the CO-50 denial
DEADLINE = date(2027, 3, 25)  # acme: 180 days from the denial date
DOCS = ("Doc: Signed note", "Doc: Order", "Doc: Letter of medical necessity")


def _denial(store: Store) -> str:
    """CLM-1025 denied CO-50 as payer_portal records it: the Denials row and the status_read record."""
    report(store, "run-1", [Finding("CLM-1025", queue="Denials", rule_id="PORTAL-F2", detail="F2|Denied|carc=CO-50",
                                    bot="payer_portal")])
    with store.begin() as conn:
        store.append_audit(conn, [AuditEntry(
            action="status_read", result="F2", bot="payer_portal", item_ref="acme:CLM-1025", claim_id="CLM-1025",
            detail={"payer": "acme", "word": "Denied", "category": "F2", "status_date": DENIED_ON, "paid_date": None,
                    "carc": [{"code": "CO-50", "group": "CO", "reason": "50", "text": "Not medically necessary"}]})])
    return next(iter(stored(store)))


def _resolve_as_appeal(settings: Settings, store: Store, today: date) -> tuple[str, str]:
    denial = _denial(store)
    sync_workbook(settings, store, today=today)
    coder_edit(settings.workbook_path, "Denials", {denial: {
        "Status": "Resolved", "Resolution": "Appeal", "Resolution Note": "records support necessity",
        "Resolved By": "jlee"}})
    sync_workbook(settings, store, today=today)
    [appeal] = [r["exception_id"] for r in store.exception_rows(queue="Appeal Preparation")]
    return denial, appeal


def test_a_co50_denial_resolved_as_appeal_opens_one_row_with_the_medical_necessity_checklist_and_deadline(
        settings: Settings, store: Store) -> None:
    denial, appeal = _resolve_as_appeal(settings, store, date(2026, 11, 30))
    sync_workbook(settings, store, today=date(2026, 11, 30))  # a rerun opens no second appeal
    [row] = sheet_rows(settings.workbook_path, "Appeal Preparation")
    assert row["Exception ID"] == appeal and row["Claim ID"] == "CLM-1025" and row["Appealed Row"] == denial
    assert row["Category"] == "Medical necessity" and row["CARC"] == "CO-50"
    assert row["Counted From"].date() == date.fromisoformat(DENIED_ON)
    assert row["Deadline"].date() == DEADLINE and row["Days Left"] == (DEADLINE - date(2026, 11, 30)).days
    assert all(d not in row for d in DOCS)  # needed, not yet in hand: blank for the coder to tick
    assert row["Doc: Authorization record"] == "n/a" and row["Doc: Proof of timely submission"] == "n/a"
    assert row["Review Level"] == "Entry" and row["Status"] == "New" and "Bot Check" not in row
    assert "180 days from the denial date 2026-09-26" in row["Reason"]
    opened = store.audit_records(action="appeal_opened")
    assert len(opened) == 1 and json.loads(opened[0]["detail"])["deadline"] == DEADLINE.isoformat()
    assert opened[0]["claim_id"] == "CLM-1025"


def test_an_appeal_resolved_without_its_evidence_gets_a_bot_check_and_is_not_synced_until_complete(
        settings: Settings, store: Store) -> None:
    today = date(2026, 11, 30)
    _denial_id, appeal = _resolve_as_appeal(settings, store, today)
    path = settings.workbook_path
    coder_edit(path, "Appeal Preparation", {appeal: {
        "Doc: Signed note": "Yes", "Doc: Order": "Yes", "Status": "Resolved", "Resolution": "Appeal submitted",
        "Resolution Note": "appeal sent on the portal", "Resolved By": "jlee", "Resolved On": "2026-11-30"}})
    sync_workbook(settings, store, today=today)
    row = rows_by_id(path)[appeal]
    assert row["Bot Check"].startswith("missing appeal evidence: Doc: Letter of medical necessity, "
                                       "Appeal Letter Ref, Submitted On and Submission Ref")
    assert appeal not in {r["exception_id"] for r in store.ready_resolutions()}
    assert not store.audit_records(action="appeal_complete")

    coder_edit(path, "Appeal Preparation", {appeal: {
        "Doc: Letter of medical necessity": "Yes", "Appeal Letter Ref": "LTR-2026-118",
        "Submitted On": datetime(2026, 11, 30), "Submission Ref": "ACME-APL-55821"}})
    sync_workbook(settings, store, today=today)
    row = rows_by_id(path)[appeal]
    assert "Bot Check" not in row and row["Submission Ref"] == "ACME-APL-55821"
    assert row["Submitted On"].date() == date(2026, 11, 30)
    [ready] = [r for r in store.ready_resolutions() if r["exception_id"] == appeal]
    assert ready["submission_ref"] == "ACME-APL-55821"
    [complete] = store.audit_records(action="appeal_complete")
    assert json.loads(complete["detail"])["submission_ref"] == "ACME-APL-55821"
    shown = CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                                     "audit", "show", "CLM-1025"])
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.output.splitlines() if " appeal_" in line]
    assert [next(t for t in line.split() if t.startswith("appeal_")) for line in lines] == ["appeal_opened", "appeal_update", "appeal_update",
                                                   "appeal_complete"]
    assert "ACME-APL-55821" in lines[-1] and "LTR-2026-118" in lines[-1]  # the evidence it closed with


def test_an_appeal_near_its_deadline_with_gaps_turns_senior_and_high_and_one_past_it_is_flagged_and_counted(
        settings: Settings, store: Store) -> None:
    _denial_id, appeal = _resolve_as_appeal(settings, store, date(2026, 11, 30))
    path = settings.workbook_path
    sync_workbook(settings, store, today=date(2027, 3, 20))  # 5 days left, nothing in hand
    row = rows_by_id(path)[appeal]
    assert (row["Review Level"], row["Priority"], row["Deadline Flag"], row["Days Left"]) == (
        "Senior", "High", "near deadline", 5)
    assert len(store.audit_records(action="appeal_escalated")) == 1

    sync_workbook(settings, store, today=date(2027, 3, 26))
    row = rows_by_id(path)[appeal]
    assert row["Deadline Flag"] == "deadline missed" and row["Days Left"] == -1
    assert len(store.audit_records(action="appeal_deadline_missed")) == 1
    summary = [[c for c in r if c is not None] for r in load_workbook(path)["Summary"].iter_rows(values_only=True)]
    assert ["acme", "Medical necessity", 1, 1] in summary
    assert ["Appeal deadlines missed", 1] in summary


def test_appeal_windows_and_checklists_are_checked_with_the_file_key_and_value(
        settings: Settings, config_dir: Path) -> None:
    edit_toml(config_dir / "payers" / "acme.toml", lambda d: d["appeals"].update(counts_from="service_date"))
    edit_toml(config_dir / "appeals.toml", lambda d: d["categories"]["Authorization"]["carc"].append("50"))
    problems = check_config(settings)
    assert any("acme.toml" in p and "appeals.counts_from" in p and "service_date" in p for p in problems), problems
    assert any("appeals.toml" in p and "'50'" in p for p in problems), problems
    with pytest.raises(ConfigError):
        from bots.core.appeals import load_appeals
        load_appeals(settings)


def test_a_portal_read_after_the_appeal_was_submitted_records_the_payer_upholding_the_denial(
        settings: Settings, store: Store) -> None:
    today = date(2026, 11, 30)
    _denial_id, appeal = _resolve_as_appeal(settings, store, today)
    path = settings.workbook_path
    coder_edit(path, "Appeal Preparation", {appeal: {
        **dict.fromkeys(DOCS, "Yes"), "Appeal Letter Ref": "LTR-9", "Submitted On": "2026-11-30",
        "Submission Ref": "ACME-APL-1", "Status": "Resolved", "Resolution": "Appeal submitted",
        "Resolution Note": "filed", "Resolved By": "jlee"}})
    sync_workbook(settings, store, today=today)
    with store.begin() as conn:  # what status_sync's settled outcome does once billing shows it
        store.mark_synced(conn, appeal, run_id="run-sync")
    sync_workbook(settings, store, today=today)
    assert "Outcome" not in rows_by_id(path)[appeal]
    with store.begin() as conn:  # the payer looked at it again and kept its denial
        store.append_audit(conn, [AuditEntry(action="status_read", result="F2", bot="payer_portal",
                                             item_ref="acme:CLM-1025", claim_id="CLM-1025",
                                             detail={"payer": "acme", "category": "F2", "status_date": "2026-12-20"})])
    sync_workbook(settings, store, today=today)
    row = rows_by_id(path)[appeal]
    assert row["Outcome"] == "upheld" and row["Bot Status"] == "Synced"
    [outcome] = store.audit_records(action="appeal_outcome")
    assert outcome["result"] == "upheld" and json.loads(outcome["detail"])["submission_ref"] == "ACME-APL-1"
    assert [a["action"] for a in store.audit_trail("CLM-1025") if a["action"].startswith("appeal_")][-2:] == [
        "appeal_submitted", "appeal_outcome"]
