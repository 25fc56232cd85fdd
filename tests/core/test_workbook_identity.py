"""A workbook row is who its bot-owned cells say: a copied or changed Exception ID merges
nothing and says so; rows and sheets a coder deleted come back, and the workbook says that too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.workbook import merge_coder_edits, sync_workbook, workbook_status
from workbook_helpers import Finding, report, rows_by_id, sheet_rows, stored

RESOLVED = {"Status": "Resolved", "Resolution": "Corrected claim", "Resolved By": "jlee"}


def _ids_by_claim(store: Store) -> dict[str, str]:
    return {row["claim_id"]: ex_id for ex_id, row in stored(store).items()}


def _edit_rows(path: Path, sheet: str, edits: dict[str, dict[str, Any]]) -> None:
    """Type into the row showing each Claim ID (any column, the Exception ID too), as a coder
    who unprotected the sheet would, and save."""
    wb = load_workbook(path)
    ws = wb[sheet]
    col = {c.value: c.column for c in ws[1]}
    for r in range(2, ws.max_row + 1):
        for header, value in edits.get(ws.cell(r, col["Claim ID"]).value, {}).items():
            ws.cell(r, col[header]).value = value
    wb.save(path)


def _summary_notices(path: Path) -> list[str]:
    rows = list(load_workbook(path)["Summary"].iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] == "Not merged or restored (last 7 days)")
    return [r[1] for r in rows[start + 1:] if r[1]]


def _coder_fields(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["status"], row["resolution"], row["resolution_note"], row["resolved_by"], row["bot_check"])


def test_a_copied_exception_id_merges_neither_row_until_a_person_puts_the_id_back(
        settings: Settings, store: Store) -> None:
    report(store, "run-1", [Finding("CLM-1071"), Finding("CLM-1072")])
    assert sync_workbook(settings, store).written
    path = settings.workbook_path
    ids = _ids_by_claim(store)
    before = {i: _coder_fields(r) for i, r in stored(store).items()}
    _edit_rows(path, "Claim Edits", {
        "CLM-1071": {**RESOLVED, "Resolution Note": "note for 1071"},
        "CLM-1072": {**RESOLVED, "Resolution": "Coding updated", "Resolution Note": "note for 1072",
                     "Exception ID": ids["CLM-1071"]},  # row 2's ID pasted into row 3
    })

    result = sync_workbook(settings, store)
    assert result.written and result.edits == 0
    rows = stored(store)
    for ex_id, row in rows.items():  # nothing merged; both rows blocked from syncing
        assert _coder_fields(row)[:4] == before[ex_id][:4] and row["bot_check"]
    assert store.ready_resolutions() == [] and workbook_status(settings, store)["awaiting_sync"] == 0
    assert store.audit_records(action="coder_update") == []

    shown = sheet_rows(path, "Claim Edits")
    assert [r["Exception ID"] for r in shown] == [ids["CLM-1071"], ids["CLM-1071"]]  # as the coder left it
    by_claim = {r["Claim ID"]: r for r in shown}
    assert by_claim["CLM-1071"]["Resolution Note"] == "note for 1071"  # typed values kept, not lost
    assert by_claim["CLM-1072"]["Resolution Note"] == "note for 1072"
    assert by_claim["CLM-1071"]["Bot Check"].startswith(f"Exception ID {ids['CLM-1071']} is also on Claim Edits row 3")
    check = by_claim["CLM-1072"]["Bot Check"]
    assert check.startswith(f"Exception ID {ids['CLM-1071']} belongs to claim CLM-1071 / rule NCCI-PTP, but this row "
                            "shows claim CLM-1072 / rule NCCI-PTP")
    assert f"Put back the original ID ({ids['CLM-1072']})" in check and "Claim Edits row 2" in check
    assert "DOE" not in check  # claim ids only, never the patient
    assert any("belongs to another claim" in n for n in _summary_notices(path))
    assert not list(path.parent.glob("exceptions.unmerged-*.xlsx"))  # the file itself keeps the entries

    _edit_rows(path, "Claim Edits", {"CLM-1072": {"Exception ID": ids["CLM-1072"]}})  # a person fixes it
    fixed = sync_workbook(settings, store)
    assert fixed.written and fixed.edits == 2
    rows = stored(store)
    assert rows[ids["CLM-1071"]]["resolution_note"] == "note for 1071"
    assert rows[ids["CLM-1072"]]["resolution_note"] == "note for 1072"
    assert rows[ids["CLM-1072"]]["resolution"] == "Coding updated"
    assert {r["exception_id"] for r in store.ready_resolutions()} == set(ids.values())
    written = rows_by_id(path)
    assert set(written) == set(ids.values())
    assert all("Bot Check" not in r for r in written.values())


def test_an_id_changed_to_another_claims_row_is_not_merged_and_both_rows_say_so(
        settings: Settings, store: Store) -> None:
    report(store, "run-1", [Finding("CLM-1071"),
                            Finding("CLM-2001", queue="Denials", rule_id="PORTAL-F2", detail="CO-45")])
    sync_workbook(settings, store)
    path = settings.workbook_path
    ids = _ids_by_claim(store)
    _edit_rows(path, "Claim Edits", {"CLM-1071": {**RESOLVED, "Resolution Note": "for 1071",
                                                  "Exception ID": ids["CLM-2001"]}})

    assert sync_workbook(settings, store).written
    rows = stored(store)
    assert rows[ids["CLM-1071"]]["status"] is None and rows[ids["CLM-2001"]]["status"] is None
    assert store.ready_resolutions() == []
    edited = sheet_rows(path, "Claim Edits")
    assert len(edited) == 1 and edited[0]["Exception ID"] == ids["CLM-2001"]
    assert edited[0]["Resolution Note"] == "for 1071"
    assert edited[0]["Bot Check"].startswith(
        f"Exception ID {ids['CLM-2001']} belongs to claim CLM-2001 / rule PORTAL-F2, but this row shows "
        f"claim CLM-1071 / rule NCCI-PTP: the ID was changed or copied. Put back the original ID ({ids['CLM-1071']})")
    denial = sheet_rows(path, "Denials")
    assert len(denial) == 1 and "is also on Claim Edits row 2" in denial[0]["Bot Check"]

    _edit_rows(path, "Claim Edits", {"CLM-1071": {"Exception ID": ids["CLM-1071"]}})
    sync_workbook(settings, store)
    assert stored(store)[ids["CLM-1071"]]["resolution_note"] == "for 1071"
    assert [r["exception_id"] for r in store.ready_resolutions()] == [ids["CLM-1071"]]
    assert stored(store)[ids["CLM-2001"]]["bot_check"] is None


def test_deleted_rows_and_a_deleted_sheet_come_back_and_the_workbook_says_edits_were_lost(
        settings: Settings, store: Store) -> None:
    report(store, "run-1", [Finding("CLM-1001"), Finding("CLM-1002"), Finding("CLM-1003"),
                            Finding("CLM-2001", queue="Denials", rule_id="PORTAL-F2", detail="CO-45"),
                            Finding("CLM-2002", queue="Denials", rule_id="PORTAL-F2", detail="CO-97")])
    sync_workbook(settings, store)
    path = settings.workbook_path
    ids = _ids_by_claim(store)
    wb = load_workbook(path)
    ws = wb["Claim Edits"]
    ws["V2"] = "jlee"  # typed, then the row is deleted before any merge
    assert ws["B2"].value == "CLM-1001"
    ws.delete_rows(2)
    del wb["Denials"]
    wb.save(path)
    report(store, "run-2", [Finding("CLM-1009")])  # new since the last write: not "missing"

    result = sync_workbook(settings, store)
    assert result.written
    written = rows_by_id(path)
    assert set(written) == set(stored(store))  # every row is back
    restored = [ids["CLM-1001"], ids["CLM-2001"], ids["CLM-2002"]]
    for ex_id in restored:
        assert written[ex_id]["Bot Check"].startswith("This row was missing from the workbook written at ")
    for ex_id in (ids["CLM-1002"], ids["CLM-1003"], _ids_by_claim(store)["CLM-1009"]):
        assert "Bot Check" not in written[ex_id]
    assert stored(store)[ids["CLM-1001"]]["assigned_to"] is None  # the edit went with the row: said, not hidden
    notice = next(n for n in _summary_notices(path) if "missing from the file" in n)
    assert notice.startswith("3 row(s) were missing from the file written at ")
    assert "(Claim Edits: 1, Denials: 2) and have been restored; edits made on them after the last save could " \
           "not be read (sheet 'Denials' was deleted)" in notice
    trail = store.audit_records(action="workbook_row_missing")
    assert sorted(r["item_ref"] for r in trail) == sorted(restored)
    assert all("DOE" not in json.dumps(dict(r)) for r in trail)  # no PHI in the record

    again = sync_workbook(settings, store)  # the rows are in the file now: the row messages go
    assert again.written and not any("missing" in p for p in again.problems)
    assert all("Bot Check" not in r for r in rows_by_id(path).values())
    assert any("missing from the file" in n for n in _summary_notices(path))  # the Summary keeps it a week
    assert len(store.audit_records(action="workbook_row_missing")) == 3 and store.verify_audit() == []


def test_two_swapped_ids_hold_both_rows_suggest_each_original_and_add_no_rows(
        settings: Settings, store: Store) -> None:
    report(store, "run-1", [Finding("CLM-1071"), Finding("CLM-1072"), Finding("CLM-1073")])
    sync_workbook(settings, store)
    path = settings.workbook_path
    ids = _ids_by_claim(store)
    _edit_rows(path, "Claim Edits", {
        "CLM-1071": {"Assigned To": "jlee", "Exception ID": ids["CLM-1072"]},
        "CLM-1072": {"Assigned To": "mpatel", "Exception ID": ids["CLM-1071"]},
        "CLM-1073": {"Assigned To": "apark"},
    })

    sync_workbook(settings, store)
    rows = stored(store)
    assert rows[ids["CLM-1071"]]["assigned_to"] is None and rows[ids["CLM-1072"]]["assigned_to"] is None
    assert rows[ids["CLM-1073"]]["assigned_to"] == "apark"  # a row that is what it says merges as usual
    shown = {r["Claim ID"]: r for r in sheet_rows(path, "Claim Edits")}
    assert len(shown) == 3 and len(sheet_rows(path, "Claim Edits")) == 3
    assert shown["CLM-1071"]["Assigned To"] == "jlee" and shown["CLM-1071"]["Exception ID"] == ids["CLM-1072"]
    assert f"Put back the original ID ({ids['CLM-1071']})" in shown["CLM-1071"]["Bot Check"]
    assert f"Put back the original ID ({ids['CLM-1072']})" in shown["CLM-1072"]["Bot Check"]
    assert "Bot Check" not in shown["CLM-1073"]

    _edit_rows(path, "Claim Edits", {"CLM-1071": {"Exception ID": ids["CLM-1071"]},
                                     "CLM-1072": {"Exception ID": ids["CLM-1072"]}})
    sync_workbook(settings, store)
    rows = stored(store)
    assert (rows[ids["CLM-1071"]]["assigned_to"], rows[ids["CLM-1072"]]["assigned_to"]) == ("jlee", "mpatel")
    assert all(r["bot_check"] is None for r in rows.values())


def test_a_copied_id_stops_an_already_saved_resolution_from_syncing_before_any_rewrite(
        settings: Settings, store: Store) -> None:
    report(store, "run-1", [Finding("CLM-1071"), Finding("CLM-1072")])
    sync_workbook(settings, store)
    path = settings.workbook_path
    ids = _ids_by_claim(store)
    _edit_rows(path, "Claim Edits", {"CLM-1071": {**RESOLVED, "Resolution Note": "note for 1071"}})
    sync_workbook(settings, store)
    assert [r["exception_id"] for r in store.ready_resolutions()] == [ids["CLM-1071"]]

    _edit_rows(path, "Claim Edits", {"CLM-1072": {"Exception ID": ids["CLM-1071"], "Resolution Note": "other"}})
    merged = merge_coder_edits(settings, store)  # what every run does before its bot enqueues
    assert merged.edits == 0 and store.ready_resolutions() == []
    assert stored(store)[ids["CLM-1071"]]["resolution_note"] == "note for 1071"  # kept as it was saved
    assert stored(store)[ids["CLM-1071"]]["bot_check"].startswith(f"Exception ID {ids['CLM-1071']} is also on ")
