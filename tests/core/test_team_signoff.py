"""Senior sign-off and escalation, enforced through the real workbook (openpyxl, then LibreOffice):
a coder cannot close a Senior row, an escalation needs a senior and a note, names come from a list."""

from __future__ import annotations

import json
from datetime import date

from openpyxl import load_workbook

from bots.core.settings import Settings
from bots.core.store import RowSynced, Store
from bots.core.workbook import sync_workbook
from bots.core.workbook.layout import COLUMNS, column_letter
from office_helpers import save_through_libreoffice
from team_helpers import write_roster
from workbook_helpers import Finding, coder_edit, report, rows_by_id, stored

DAY = date(2026, 11, 24)
AT = {c.header: column_letter(i) for i, c in enumerate(COLUMNS, 1)}
FINDINGS = [Finding("CLM-S1", detail="s1", review_level="Senior"), Finding("CLM-S2", detail="s2", review_level="Senior"),
            Finding("CLM-E1", detail="e1"), Finding("CLM-E2", detail="e2")]
RESOLVED = {"Status": "Resolved", "Resolution": "Corrected claim", "Resolution Note": "op note supports 59",
            "Resolved On": "2026-11-24"}


def _by_claim(store: Store) -> dict[str, dict]:
    return {r["claim_id"]: r for r in stored(store).values()}


def _summary(path) -> dict:  # noqa: ANN001
    return {r[0]: r for r in load_workbook(path)["Summary"].iter_rows(values_only=True) if r[0]}


def _validation_refs(path, sheet: str) -> dict[str, str]:  # noqa: ANN001
    ws = load_workbook(path)[sheet]
    refs = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            refs[rng.coord.split(":")[0].rstrip("0123456789")] = dv.formula1
    return refs


def test_a_senior_row_resolved_by_a_coder_is_held_and_counted_and_one_resolved_by_a_senior_syncs(
        settings: Settings, store: Store) -> None:
    write_roster(settings)
    report(store, "run-1", FINDINGS)
    assert sync_workbook(settings, store, today=DAY).written
    path = settings.workbook_path

    # The person columns are dropdowns of the roster's names, kept on a hidden sheet.
    wb = load_workbook(path)
    assert wb["Lists"].sheet_state == "hidden"
    names = [c.value for c in wb["Lists"]["A"][1:]]
    assert names == ["Ana Ruiz", "Ben Okafor", "Cy Tran", "Dee Marsh", "Eve Stone"]
    refs = _validation_refs(path, "Claim Edits")
    for header in ("Assigned To", "Resolved By", "Escalated To"):
        assert refs[AT[header]] == "Lists!$A$2:$A$6", header

    ids = {c: r["exception_id"] for c, r in _by_claim(store).items()}
    coder_edit(path, "Claim Edits", {
        ids["CLM-S1"]: {**RESOLVED, "Resolved By": "Ana Ruiz"},  # a coder closing senior work
        ids["CLM-S2"]: {**RESOLVED, "Resolved By": "Dee Marsh"},
        ids["CLM-E1"]: {"Status": "Escalated", "Resolution Note": "bypass looks wrong"},  # no Escalated To
        ids["CLM-E2"]: {"Status": "Escalated", "Escalated To": "Dee Marsh", "Resolution Note": "needs a senior"},
    })
    save_through_libreoffice(path)  # a real spreadsheet client's save keeps the dropdowns and the hidden list
    saved = _validation_refs(path, "Claim Edits")
    assert all(saved[AT[h]] == "Lists!$A$2:$A$6" for h in ("Assigned To", "Resolved By", "Escalated To")), saved
    assert load_workbook(path)["Lists"].sheet_state == "hidden"
    result = sync_workbook(settings, store, today=DAY)
    assert result.written and not result.problems, result.problems

    rows = _by_claim(store)
    assert "'Ana Ruiz' is not a senior: a Senior row needs a senior's sign-off" in rows["CLM-S1"]["bot_check"]
    assert not rows["CLM-S2"]["bot_check"]
    ready = [r["exception_id"] for r in store.ready_resolutions()]
    assert ids["CLM-S2"] in ready and ids["CLM-S1"] not in ready  # held back from billing
    assert rows["CLM-E1"]["bot_check"].startswith("Escalated without Escalated To")
    assert rows["CLM-E1"]["review_level"] == "Entry"
    # The complete escalation: Senior now, in the senior backlog, on the record.
    assert rows["CLM-E2"]["review_level"] == "Senior" and rows["CLM-E2"]["escalated_to"] == "Dee Marsh"
    escalated = store.audit_records(action="row_escalated")
    assert [a["item_ref"] for a in escalated] == [ids["CLM-E2"]]
    assert json.loads(escalated[0]["detail"])["to"] == "Dee Marsh"

    # Counted: an audit evidence exception, once, and on the Summary.
    missing = store.audit_records(action="senior_signoff_missing")
    assert [a["item_ref"] for a in missing] == [ids["CLM-S1"]]
    shown = rows_by_id(path)
    assert shown[ids["CLM-E2"]]["Review Level"] == "Senior" and shown[ids["CLM-E2"]]["Escalated To"] == "Dee Marsh"
    assert "is not a senior" in shown[ids["CLM-S1"]]["Bot Check"]
    summary = _summary(path)
    assert summary["Senior rows resolved without a senior"][1] == 1
    assert summary["Senior backlog (open Senior rows)"][1] == 1  # CLM-E2 (S1 and S2 are resolved)
    assert summary["Dee Marsh"][1] == 1  # the senior backlog by person: the escalation to her
    # ... and the rewrite after it.
    refs = _validation_refs(path, "Claim Edits")
    assert refs[AT["Resolved By"]] == "Lists!$A$2:$A$6"

    # status_sync applies what is ready: the senior's resolution syncs, the coder's does not.
    with store.begin() as conn:
        store.apply_intents(conn, [RowSynced(r["exception_id"], "run-sync", "Ready to rebill")
                                   for r in store.ready_resolutions()])
    rows = _by_claim(store)
    assert rows["CLM-S2"]["bot_status"] == "Synced" and rows["CLM-S1"]["bot_status"] == "Open"

    # A rerun keeps the escalated row Senior and counts the missing sign-off only once.
    report(store, "run-2", FINDINGS)
    assert sync_workbook(settings, store, today=DAY).written
    assert _by_claim(store)["CLM-E2"]["review_level"] == "Senior"
    assert len(store.audit_records(action="senior_signoff_missing")) == 1
    assert len(store.audit_records(action="row_escalated")) == 1

    # The senior signs it off: the check goes and the row is ready.
    coder_edit(path, "Claim Edits", {ids["CLM-S1"]: {"Resolved By": "Dee Marsh"},
                                     ids["CLM-E1"]: {"Escalated To": "Eve Stone"}})
    assert sync_workbook(settings, store, today=DAY).written
    rows = _by_claim(store)
    assert not rows["CLM-S1"]["bot_check"] and ids["CLM-S1"] in [r["exception_id"] for r in store.ready_resolutions()]
    assert rows["CLM-E1"]["review_level"] == "Senior" and not rows["CLM-E1"]["bot_check"]


def test_a_name_not_on_the_roster_is_refused_and_without_a_roster_nothing_is_enforced(
        settings: Settings, store: Store) -> None:
    report(store, "run-1", FINDINGS)
    assert sync_workbook(settings, store, today=DAY).written
    ids = {c: r["exception_id"] for c, r in _by_claim(store).items()}
    coder_edit(settings.workbook_path, "Claim Edits", {ids["CLM-S1"]: {**RESOLVED, "Resolved By": "jlee"},
                                                       ids["CLM-E1"]: {"Status": "Escalated"},
                                                       ids["CLM-E2"]: {"Assigned To": "jlee"}})
    assert sync_workbook(settings, store, today=DAY).written
    rows = _by_claim(store)
    assert not rows["CLM-S1"]["bot_check"] and not rows["CLM-E1"]["bot_check"]  # no roster: as before
    assert "Lists" not in load_workbook(settings.workbook_path).sheetnames

    write_roster(settings)
    assert sync_workbook(settings, store, today=DAY).written
    rows = _by_claim(store)
    assert rows["CLM-S1"]["bot_check"].startswith("Resolved By 'jlee' is not on the team roster")
    assert "Escalated without Escalated To" in rows["CLM-E1"]["bot_check"]
    assert "Escalated without a note" in rows["CLM-E1"]["bot_check"]
    # A name typed or pasted past the dropdown is no owner: flagged, counted as unowned, not replaced.
    assert rows["CLM-E2"]["assigned_to"] == "jlee"
    assert rows["CLM-E2"]["bot_check"].startswith("Assigned To 'jlee' is not on the team roster")
    assert _summary(settings.workbook_path)["Unowned open rows"][1] == 1
