"""A year of rows (issue 18): closed rows leave the live workbook for monthly, read-only archive files,
stay in the store and the audit trail, and come back to the live workbook when the bots find them again.

Real xlsx files written, edited the way Excel saves them, reopened and read back; a real SQLite file.
Closing times are back-dated in the store, as the rows of a year would be."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from bots.cli import app
from bots.core.errors import ConfigError
from bots.core.settings import Settings
from bots.core.store import RowSynced, Store
from bots.core.workbook import sync_workbook
from config_helpers import edit_toml
from store_helpers import set_columns
from workbook_helpers import Finding, coder_edit, report, rows_by_id, sheet_rows, stored

CLOSED = Finding("CLM-3001")  # resolved by a coder, synced, long ago
STILL_OPEN = Finding("CLM-3002", rule_id="MUE", detail="units")
CLEARED = Finding("CLM-3003", detail="cleared")  # the bots stopped finding it, long ago

RESOLVED = {"Assigned To": "Dana Coder", "Status": "Resolved", "Resolution": "Corrected claim",
            "Resolution Note": "modifier 59 added per op note", "Resolved By": "Dana Coder",
            "Resolved On": datetime(2026, 8, 3)}


def _ago(days: int) -> str:
    return (datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)).isoformat(timespec="microseconds")


def _ids(store: Store) -> dict[str, str]:
    return {row["claim_id"]: ex_id for ex_id, row in stored(store).items()}


def _close_long_ago(store: Store, ex_id: str, days: int = 120) -> None:
    """As if the row had closed ``days`` ago: its last sighting, sync and the coder's last edit."""
    set_columns(store, "exceptions", {"exception_id": ex_id}, last_seen=_ago(days + 5),
                synced_at=_ago(days), coder_updated_at=_ago(days + 1))


def _synced(store: Store, ex_id: str) -> None:
    """status_sync applied the resolution to billing."""
    with store.begin() as conn:
        store.apply_intents(conn, [RowSynced(ex_id, run_id="run-sync", billing_status="Corrected Claim Sent")])


def _year_of_rows(settings: Settings, store: Store) -> dict[str, str]:
    """Three rows worked in the workbook: one resolved and synced, one still open, one cleared;
    the closed two closed 120 days ago."""
    report(store, "run-1", [CLOSED, STILL_OPEN, CLEARED])
    sync_workbook(settings, store)
    ids = _ids(store)
    coder_edit(settings.workbook_path, "Claim Edits", {ids["CLM-3001"]: RESOLVED})
    sync_workbook(settings, store)  # the coder's resolution is merged
    _synced(store, ids["CLM-3001"])
    with store.begin() as conn:  # a rescan no longer finds CLM-3003's edit: Cleared
        store.clear_exceptions(conn, bot=CLEARED.bot, item_ref=CLEARED.item_ref)
    sync_workbook(settings, store)  # the file shows them closed
    _close_long_ago(store, ids["CLM-3001"])
    _close_long_ago(store, ids["CLM-3003"])
    return ids


def _archive_file(settings: Settings, month: str) -> Path:
    return settings.workbook_path.parent / "archive" / f"exceptions-{month}.xlsx"


def test_coder_edits_on_an_archived_row_are_kept_in_the_read_only_archive_file(
        settings: Settings, store: Store) -> None:
    report(store, "run-1", [CLOSED, STILL_OPEN])
    sync_workbook(settings, store)
    ids = _ids(store)
    coder_edit(settings.workbook_path, "Claim Edits", {ids["CLM-3001"]: RESOLVED})
    sync_workbook(settings, store)
    _synced(store, ids["CLM-3001"])
    sync_workbook(settings, store)
    _close_long_ago(store, ids["CLM-3001"])
    month = stored(store)[ids["CLM-3001"]]["synced_at"][:7]
    # The coder adds to the note after it closed: the edit is merged and restarts the clock.
    coder_edit(settings.workbook_path, "Claim Edits",
               {ids["CLM-3001"]: {"Resolution Note": "modifier 59 added per op note; payer confirmed"}})
    result = sync_workbook(settings, store)
    assert result.archived == 0 and ids["CLM-3001"] in rows_by_id(settings.workbook_path)
    _close_long_ago(store, ids["CLM-3001"])

    result = sync_workbook(settings, store)

    assert result.written and result.archived == 1
    archive = _archive_file(settings, month)
    assert result.archive_files == [f"archive/{archive.name}"]
    wb = load_workbook(archive)
    assert wb.sheetnames[0] == "Archive" and "Claim Edits" in wb.sheetnames
    ws = wb["Claim Edits"]
    assert ws.protection.sheet and wb["Archive"].protection.sheet
    assert all(ws.cell(2, c).protection.locked for c in range(1, ws.max_column + 1))  # every cell locked
    assert not ws.data_validations.dataValidation  # no dropdowns: nothing here is read back
    wb.close()
    [row] = sheet_rows(archive, "Claim Edits")
    assert row["Exception ID"] == ids["CLM-3001"] and row["Bot Status"] == "Synced"
    assert row["Status"] == "Resolved" and row["Resolved By"] == "Dana Coder"
    assert row["Resolution"] == "Corrected claim"
    assert row["Resolution Note"] == "modifier 59 added per op note; payer confirmed"  # the last edit merged
    assert row["Resolved On"].date().isoformat() == "2026-08-03"
    assert ids["CLM-3001"] not in rows_by_id(settings.workbook_path)
    assert ids["CLM-3002"] in rows_by_id(settings.workbook_path)
    assert archive.stat().st_mode & 0o777 == 0o600  # owner-only, as the workbook without a share group
    audit = store.audit_records(action="rows_archived")
    assert len(audit) == 1 and json.loads(audit[0]["detail"])["exception_ids"] == [ids["CLM-3001"]]


def test_a_row_edited_since_the_last_read_or_still_worked_is_not_archived(settings: Settings, store: Store) -> None:
    ids = _year_of_rows(settings, store)
    # The coder reopens the cleared row's work (In Progress) in the file; the synced one gets a note.
    coder_edit(settings.workbook_path, "Claim Edits", {ids["CLM-3003"]: {"Status": "In Progress"}})
    set_columns(store, "exceptions", {"exception_id": ids["CLM-3003"]}, coder_updated_at=_ago(200))
    result = sync_workbook(settings, store)
    assert result.archived == 1  # CLM-3001 only: CLM-3003's coder is still on it
    live = rows_by_id(settings.workbook_path)
    assert ids["CLM-3003"] in live and live[ids["CLM-3003"]]["Status"] == "In Progress"
    # While the workbook is open in Excel nothing moves: edits there cannot be read yet.
    coder_edit(settings.workbook_path, "Claim Edits", {ids["CLM-3003"]: {"Status": "Resolved"}})
    lock = settings.workbook_path.with_name(f"~${settings.workbook_path.name}")
    lock.write_text("someone")
    set_columns(store, "exceptions", {"exception_id": ids["CLM-3003"]}, status="New")
    busy = sync_workbook(settings, store)
    assert not busy.written and busy.archived == 0
    lock.unlink()


def test_archived_rows_are_not_missing_not_in_the_live_file_but_in_the_store_and_audit_show(
        settings: Settings, store: Store) -> None:
    ids = _year_of_rows(settings, store)
    first = sync_workbook(settings, store)
    assert first.archived == 2
    again = sync_workbook(settings, store)  # the file no longer shows them: not "deleted by a coder"

    assert again.written and again.archived == 0
    assert not any("missing" in p for p in again.problems), again.problems
    assert store.audit_records(action="workbook_row_missing") == []
    live = rows_by_id(settings.workbook_path)
    assert set(live) == {ids["CLM-3002"]}
    rows = stored(store)
    assert rows[ids["CLM-3001"]]["archived_at"] and rows[ids["CLM-3001"]]["archive_file"].startswith("archive/")
    assert rows[ids["CLM-3002"]]["archived_at"] is None
    summary = [c.value for r in load_workbook(settings.workbook_path)["Summary"].iter_rows() for c in r]
    assert "Archived rows (not in this workbook)" in summary and rows[ids["CLM-3001"]]["archive_file"] in summary
    out = CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                                   "audit", "show", "CLM-3001"])
    assert out.exit_code == 0, out.output
    assert "coder_update" in out.output  # the trail is all there
    assert f"row {ids['CLM-3001']} (Claim Edits, Synced): archived" in out.output
    assert rows[ids["CLM-3001"]]["archive_file"] in out.output
    assert "DOE" not in out.output  # no patient name


def test_an_archived_row_found_again_reopens_in_the_workbook_with_its_history(
        settings: Settings, store: Store) -> None:
    ids = _year_of_rows(settings, store)
    sync_workbook(settings, store)
    before = stored(store)[ids["CLM-3001"]]
    assert before["archived_at"]

    report(store, "run-3", [CLOSED, STILL_OPEN])  # found again
    result = sync_workbook(settings, store)

    row = stored(store)[ids["CLM-3001"]]
    assert row["archived_at"] is None and row["bot_status"] == "Open"
    assert row["times_seen"] == before["times_seen"] + 1 and row["first_seen"] == before["first_seen"]
    live = rows_by_id(settings.workbook_path)[ids["CLM-3001"]]
    assert live["Times Seen"] == row["times_seen"] and live["Bot Status"] == "Open"
    assert live["Resolved By"] == "Dana Coder" and live["Resolution Note"] == "modifier 59 added per op note"
    assert "recurred after it was resolved and synced" in live["Bot Check"]
    assert not any("missing" in p for p in result.problems), result.problems  # it was not in the last file
    assert store.audit_records(action="workbook_row_missing") == []
    # The next write still sees it where it should be.
    assert ids["CLM-3001"] in rows_by_id(settings.workbook_path)
    assert not any("missing" in p for p in sync_workbook(settings, store).problems)


def test_archiving_off_keeps_every_row_and_a_bad_setting_names_file_key_and_value(
        settings: Settings, store: Store, config_dir: Path) -> None:
    off = settings.with_config({**settings.config.model_dump(exclude_unset=True), "workbook": {"archive_after_days": 0}})
    ids = _year_of_rows(off, store)
    assert sync_workbook(off, store).archived == 0
    assert set(rows_by_id(off.workbook_path)) == set(ids.values())

    edit_toml(config_dir / "bots.toml", lambda d: d["workbook"].update(archive_after_days=-7))
    with pytest.raises(ConfigError) as err:
        _ = Settings(home=settings.home, config_dir=config_dir, _env_file=None).config
    message = str(err.value)
    assert str(config_dir / "bots.toml") in message and "workbook.archive_after_days" in message and "-7" in message


def test_a_deleted_archive_file_is_written_again_and_a_row_pasted_back_from_it_is_not_merged(
        settings: Settings, store: Store) -> None:
    ids = _year_of_rows(settings, store)
    first = sync_workbook(settings, store)
    name = stored(store)[ids["CLM-3001"]]["archive_file"]
    archive = settings.workbook_path.parent / name
    archive.unlink()
    # A coder copies the archived row back into the live workbook and types on it.
    wb = load_workbook(settings.workbook_path)
    ws = wb["Claim Edits"]
    ws.append([ids["CLM-3001"], "CLM-3001"] + [None] * 10 + ["Dana Coder", "In Progress"])
    wb.save(settings.workbook_path)

    result = sync_workbook(settings, store)

    assert first.archived == 2 and result.written and archive.exists()
    assert {r["Exception ID"] for r in sheet_rows(archive, "Claim Edits")} >= {ids["CLM-3001"]}
    assert any("archived row" in p and name in p for p in result.problems), result.problems
    assert not any("does not know" in p for p in result.problems)
    assert list(settings.workbook_path.parent.glob("exceptions.unmerged-*.xlsx"))  # what was typed is kept
    assert stored(store)[ids["CLM-3001"]]["status"] == "Resolved"  # not merged
    assert ids["CLM-3001"] not in rows_by_id(settings.workbook_path)
