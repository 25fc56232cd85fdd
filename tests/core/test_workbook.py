"""The exception workbook: coder edits survive, nothing is lost, the file is always whole."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from config_helpers import edit_toml
from bots.cli import app
from bots.core.errors import ConfigError
from bots.core.settings import Settings
from bots.core.store import RowSynced, Store
from bots.core.workbook import sync_workbook, workbook_status
from bots.core.workbook.files import backup_path
from bots.core.appeals import load_appeals
from bots.core.workbook.layout import COLUMNS, QUEUE_SHEETS, appeal_columns, column_letter, load_layout
from bots.core.workbook.reader import _FastSheet, read_coder_columns
from workbook_helpers import Finding, coder_edit, report, rows_by_id, sha256, sheet_rows, stored

runner = CliRunner()

CLAIMS = [Finding(f"CLM-{n}") for n in range(1001, 1007)] + [
    Finding("CLM-2001", queue="Denials", rule_id="PORTAL-F2", detail="CO-45", review_level="Senior"),
    Finding("CLM-2002", queue="Denials", rule_id="PORTAL-F2", detail="CO-97"),
]


def _ids_by_claim(store: Store) -> dict[str, str]:
    return {row["claim_id"]: ex_id for ex_id, row in stored(store).items()}


def _cli(settings: Settings, *args: str) -> object:
    return runner.invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir), *args])


def test_coder_edits_survive_three_reruns_after_sorting_and_a_blank_row(settings: Settings, store: Store) -> None:
    report(store, "run-1", CLAIMS)
    first = sync_workbook(settings, store)
    assert first.written and first.rows == len(CLAIMS) and first.pending == 0
    path = settings.workbook_path
    ids = _ids_by_claim(store)
    edits = {
        ids["CLM-1001"]: {"Assigned To": "jlee", "Status": "In Progress", "Resolution Note": "called payer, ref 88"},
        ids["CLM-1004"]: {"Assigned To": "mpatel", "Status": "Escalated"},
        ids["CLM-1006"]: {"Assigned To": "jlee", "Status": "Resolved", "Resolution": "Corrected claim",
                          "Resolution Note": "modifier 25 added", "Resolved By": "jlee", "Resolved On": "2026-11-02"},
    }
    coder_edit(path, "Claim Edits", edits, sort_by="Claim ID", descending=True, insert_blank_at=3)
    coder_order = [r.get("Exception ID") for r in sheet_rows(path, "Claim Edits")]
    assert coder_order[1] is None  # the blank row the coder inserted

    for n in range(2, 5):  # three bot reruns, each followed by the workbook write the runner does
        report(store, f"run-{n}", CLAIMS)
        result = sync_workbook(settings, store)
        assert result.written, result.message
        rows = rows_by_id(path)
        assert len(rows) == len(CLAIMS)
        for ex_id, typed in edits.items():
            for header, value in typed.items():
                shown = rows[ex_id][header]
                shown = shown.date().isoformat() if header == "Resolved On" else shown
                assert shown == value, (n, header)
        assert rows[ids["CLM-1001"]]["Times Seen"] == n
        # the coders' sort is kept; the blank row is gone
        assert [r["Exception ID"] for r in sheet_rows(path, "Claim Edits")] == [i for i in coder_order if i]

    row = stored(store)[ids["CLM-1006"]]
    assert (row["status"], row["resolution"], row["resolved_by"], row["resolved_on"]) == (
        "Resolved", "Corrected claim", "jlee", "2026-11-02")
    # the edits were read once and audited once, naming who and what
    trail = [r for r in store.audit_trail("CLM-1006") if r["action"] == "coder_update"]
    assert len(trail) == 1 and trail[0]["bot"] == "workbook" and trail[0]["item_ref"] == ids["CLM-1006"]
    assert json.loads(trail[0]["detail"])["resolved_by"] == "jlee" and trail[0]["result"] == "Resolved"
    assert store.verify_audit() == []


@pytest.mark.parametrize("lock_name", ["~$exceptions.xlsx", ".~lock.exceptions.xlsx#"])
def test_lock_file_defers_the_write_and_the_next_run_writes_every_pending_row(
        settings: Settings, store: Store, lock_name: str) -> None:
    report(store, "run-1", CLAIMS[:3])
    assert sync_workbook(settings, store).written
    path = settings.workbook_path
    ex_id = _ids_by_claim(store)["CLM-1001"]
    coder_edit(path, "Claim Edits", {ex_id: {"Assigned To": "jlee"}})  # saved, still open in Excel
    before = sha256(path)
    lock = path.with_name(lock_name)
    lock.write_text("jlee")
    report(store, "run-2", CLAIMS[3:])

    busy = sync_workbook(settings, store)
    assert not busy.written and busy.pending == len(CLAIMS) - 3 + 1
    assert f"workbook busy ({lock_name} present): {busy.pending} rows pending" in busy.message
    assert sha256(path) == before
    assert busy.edits == 1 and stored(store)[ex_id]["assigned_to"] == "jlee"  # saved edits are read anyway
    status = workbook_status(settings, store)
    assert status["lock_present"] and status["pending_rows"] == busy.pending
    assert _cli(settings, "workbook", "write").exit_code == 1

    lock.unlink()
    done = sync_workbook(settings, store)
    assert done.written and done.pending == 0
    assert set(rows_by_id(path)) == set(stored(store))
    assert workbook_status(settings, store)["pending_rows"] == 0


KILL_SCRIPT = """
import sys, time
from pathlib import Path
import bots.core.workbook.render as render
from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.workbook import sync_workbook

original = render._rows_xml
def slow_disk(*args, **kwargs):
    yield from original(*args, **kwargs)
    time.sleep(120)  # the write stalls here, half done, until the test kills us
render._rows_xml = slow_disk
s = Settings(home=Path({home!r}), config_dir=Path({config!r}), _env_file=None)
sync_workbook(s, Store(s.db_url))
"""


def test_process_killed_during_the_write_leaves_the_previous_workbook_intact(
        settings: Settings, store: Store) -> None:
    report(store, "run-1", CLAIMS[:4])
    assert sync_workbook(settings, store).written
    path = settings.workbook_path
    before = sha256(path)
    report(store, "run-2", CLAIMS[4:])

    script = KILL_SCRIPT.format(home=str(settings.home), config=str(settings.config_dir))
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    temps: list[Path] = []
    while time.monotonic() < deadline and not temps:
        temps = [p for p in path.parent.glob(".exceptions.xlsx.*.tmp") if p.stat().st_size > 0]
        time.sleep(0.05)
    assert temps, "the writer never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    assert sha256(path) == before
    wb = load_workbook(path)  # intact and readable
    assert wb.sheetnames[0] == "Summary"
    assert len(rows_by_id(path)) == 4
    assert workbook_status(settings, store)["pending_rows"] == len(CLAIMS) - 4

    again = sync_workbook(settings, store)
    assert again.written and again.pending == 0
    assert len(rows_by_id(path)) == len(CLAIMS)
    assert not list(path.parent.glob(".exceptions.xlsx.*.tmp"))


def test_a_failed_write_keeps_rows_pending_and_the_old_file(settings: Settings, store: Store,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    report(store, "run-1", CLAIMS[:2])
    assert sync_workbook(settings, store).written
    path = settings.workbook_path
    before = sha256(path)
    report(store, "run-2", CLAIMS[2:4])

    def disk_full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bots.core.workbook.sync.replace_with_backups", disk_full)
    failed = sync_workbook(settings, store)
    assert not failed.written and failed.pending == 2
    assert "workbook not written (OSError" in failed.message and "2 rows pending" in failed.message
    assert sha256(path) == before and not list(path.parent.glob(".exceptions.xlsx.*.tmp"))
    monkeypatch.undo()
    assert sync_workbook(settings, store).pending == 0 and len(rows_by_id(path)) == 4


def test_resolved_without_a_note_gets_a_bot_check_and_is_not_handed_to_status_sync(
        settings: Settings, store: Store) -> None:
    report(store, "run-1", CLAIMS[:2])
    sync_workbook(settings, store)
    path = settings.workbook_path
    ids = _ids_by_claim(store)
    no_note, complete = ids["CLM-1001"], ids["CLM-1002"]
    coder_edit(path, "Claim Edits", {
        no_note: {"Status": "Resolved", "Resolution": "Corrected claim", "Resolved By": "jlee"},
        complete: {"Status": "Resolved", "Resolution": "Coding updated", "Resolution Note": "99213 per note",
                   "Resolved By": "mpatel"},
    })
    sync_workbook(settings, store)
    assert stored(store)[no_note]["bot_check"] == "missing Resolution Note"
    assert rows_by_id(path)[no_note]["Bot Check"] == "missing Resolution Note"
    assert [r["exception_id"] for r in store.ready_resolutions()] == [complete]

    coder_edit(path, "Claim Edits", {no_note: {"Resolution Note": "modifier 59 added"}})
    sync_workbook(settings, store)
    assert stored(store)[no_note]["bot_check"] is None
    assert "Bot Check" not in rows_by_id(path)[no_note]
    assert {r["exception_id"] for r in store.ready_resolutions()} == {no_note, complete}

    with store.begin() as conn:
        store.apply_intents(conn, [RowSynced(complete, run_id="run-sync", billing_status="Corrected Claim Sent")])
    assert workbook_status(settings, store)["pending_rows"] == 1
    sync_workbook(settings, store)
    assert rows_by_id(path)[complete]["Bot Status"] == "Synced"
    assert [r["exception_id"] for r in store.ready_resolutions()] == [no_note]


def test_missing_evidence_names_every_missing_field_and_pasted_values_are_checked(
        settings: Settings, store: Store) -> None:
    report(store, "run-1", CLAIMS[:2])
    sync_workbook(settings, store)
    ids = _ids_by_claim(store)
    coder_edit(settings.workbook_path, "Claim Edits", {
        ids["CLM-1001"]: {"Status": "Resolved"},
        ids["CLM-1002"]: {"Status": "Resolved", "Resolution": "Appeal", "Resolution Note": "n", "Resolved By": "x"},
    })
    sync_workbook(settings, store)
    rows = stored(store)
    assert rows[ids["CLM-1001"]]["bot_check"] == "missing Resolution, Resolution Note and Resolved By"
    assert rows[ids["CLM-1002"]]["bot_check"] == "Resolution 'Appeal' is not a Claim Edits choice"
    assert store.ready_resolutions() == []


def test_written_workbook_reopens_with_validations_protection_hyperlinks_and_layout(
        settings: Settings, store: Store) -> None:
    shot = settings.evidence_dir / "run-1" / "CLM-1001.png"
    shot.parent.mkdir(parents=True)
    shot.write_bytes(b"\x89PNG")
    findings = [Finding("CLM-1001", evidence_file=str(shot)), Finding("CLM-1002", review_level="Senior"),
                *CLAIMS[6:]]
    report(store, "run-1", findings)
    assert sync_workbook(settings, store).written
    wb = load_workbook(settings.workbook_path)
    assert wb.sheetnames == ["Summary", *QUEUE_SHEETS, "Trends"]  # Trends: the leaders' figures, last
    appeal_items = load_appeals(settings).items  # type: ignore[union-attr]
    for name in QUEUE_SHEETS:
        ws = wb[name]
        columns = appeal_columns(appeal_items) if name == "Appeal Preparation" else COLUMNS  # its own around ours
        at = {c.header: column_letter(i) for i, c in enumerate(columns, 1)}  # header -> column letter
        last = column_letter(len(columns))
        assert [c.value for c in ws[1]] == [c.header for c in columns]
        assert ws.freeze_panes == "C2" and ws.auto_filter.ref.startswith(f"A1:{last}")
        assert ws.protection.sheet and not ws.protection.autoFilter and not ws.protection.sort
        lists = {str(dv.sqref): dv for dv in ws.data_validations.dataValidation}
        assert lists[f"{at['Status']}2:{at['Status']}1048576"].formula1 == '"New,In Progress,Resolved,Escalated"'
        assert lists[f"{at['Resolved On']}2:{at['Resolved On']}1048576"].type == "date"
        assert ws.column_dimensions[at["Resolution"]].protection.locked is False
        assert ws.column_dimensions[at["Reason"]].width == 60
    at = {c.header: column_letter(i) for i, c in enumerate(COLUMNS, 1)}
    res = at["Resolution"]
    denial_choices = {str(dv.sqref): dv for dv in wb["Denials"].data_validations.dataValidation}[f"{res}2:{res}1048576"]
    assert "Appeal" in denial_choices.formula1 and "Write-off" in denial_choices.formula1

    ws = wb["Claim Edits"]
    link = ws[f"{at['Evidence File']}2"].value
    assert link == '=HYPERLINK("evidence/run-1/CLM-1001.png","CLM-1001.png")'
    assert (settings.workbook_path.parent / "evidence/run-1/CLM-1001.png").exists()
    assert ws["A2"].protection.locked and not ws[f"{at['Status']}2"].protection.locked
    assert ws[f"{at['Status']}2"].value == "New"
    entry_fill, senior_fill = ws["A2"].fill.fgColor.rgb, ws["A3"].fill.fgColor.rgb
    assert entry_fill != senior_fill and ws[f"{at['Review Level']}3"].value == "Senior"

    summary = {r[0]: r for r in wb["Summary"].iter_rows(values_only=True) if r[0]}
    assert summary["Claim Edits"][1:4] == (1, 1, 2) and summary["Denials"][1:4] == (1, 1, 2)
    assert summary["Senior backlog (open Senior rows)"][1] == 2
    assert summary["Total"][4] == 0  # oldest open row: found today
    zone = settings.config.timezone or "UTC"
    assert summary["Last written"][2] == f"all times in this workbook are {zone} time"  # labelled, once


def test_rerun_updates_last_seen_and_times_seen_and_never_duplicates(settings: Settings, store: Store) -> None:
    report(store, "run-1", CLAIMS)
    sync_workbook(settings, store)
    first = rows_by_id(settings.workbook_path)
    time.sleep(0.01)
    report(store, "run-2", CLAIMS)
    report(store, "run-2", CLAIMS)  # the same run twice counts once
    sync_workbook(settings, store)
    second = rows_by_id(settings.workbook_path)
    assert set(first) == set(second) and len(second) == len(CLAIMS)
    for ex_id, row in second.items():
        assert row["Times Seen"] == 2 and row["Run ID"] == "run-2"
        assert row["First Seen"] == first[ex_id]["First Seen"] and row["Last Seen"] >= first[ex_id]["Last Seen"]


def test_exceptions_that_no_longer_occur_are_cleared_and_stay(settings: Settings, store: Store) -> None:
    both = [Finding("CLM-1001", detail="a"), Finding("CLM-1001", rule_id="MUE", detail="b")]
    report(store, "run-1", both)
    sync_workbook(settings, store)
    report(store, "run-2", both[:1])
    sync_workbook(settings, store)
    rows = rows_by_id(settings.workbook_path)
    assert sorted(r["Bot Status"] for r in rows.values()) == ["Cleared", "Open"]
    ws = load_workbook(settings.workbook_path)["Claim Edits"]
    status_col = [c.header for c in COLUMNS].index("Bot Status") + 1
    fills = {ws.cell(r, status_col).value: ws.cell(r, 1).fill.fgColor.rgb for r in (2, 3)}
    assert fills["Cleared"].endswith(load_layout(settings).colours.closed)


def test_corrupt_workbook_is_moved_aside_not_overwritten(settings: Settings, store: Store) -> None:
    report(store, "run-1", CLAIMS[:2])
    path = settings.workbook_path
    path.write_bytes(b"this is not a zip file")
    result = sync_workbook(settings, store)
    assert result.written and result.moved_aside is not None
    assert result.moved_aside.read_bytes() == b"this is not a zip file"
    assert result.moved_aside.name.startswith("exceptions.corrupt-") and result.moved_aside.suffix == ".xlsx"
    assert any("moved aside" in p and "could not be read" in p for p in result.problems)
    assert len(rows_by_id(path)) == 2


def test_foreign_workbook_is_moved_aside(settings: Settings, store: Store) -> None:
    report(store, "run-1", CLAIMS[:2])
    path = settings.workbook_path
    wb = Workbook()
    wb.active.append(["Month", "Budget"])
    wb.save(path)
    result = sync_workbook(settings, store)
    assert result.moved_aside is not None and "header row" in result.problems[0]
    assert load_workbook(result.moved_aside).active["A1"].value == "Month"
    assert len(rows_by_id(path)) == 2


def test_entries_that_cannot_be_merged_are_reported_and_the_old_file_kept(settings: Settings, store: Store) -> None:
    report(store, "run-1", CLAIMS[:2])
    sync_workbook(settings, store)
    path = settings.workbook_path
    wb = load_workbook(path)
    typed = {"Assigned To": "jlee", "Status": "Resolved"}  # typed on a row without an Exception ID
    wb["Claim Edits"].append([typed.get(c.header) for c in COLUMNS])
    wb.create_sheet("My notes")["A1"] = "call back Tuesday"
    wb.save(path)
    result = sync_workbook(settings, store)
    assert result.written
    text = " ".join(result.problems)
    assert "no Exception ID" in text and "'My notes' is not part of the exception workbook" in text
    kept = list(path.parent.glob("exceptions.unmerged-*.xlsx"))
    assert len(kept) == 1 and "My notes" in load_workbook(kept[0]).sheetnames
    summary = [r[1] for r in load_workbook(path)["Summary"].iter_rows(values_only=True) if r[1]]
    assert f"the previous workbook was kept as {kept[0].name}" in " ".join(map(str, summary))  # the file says it


def test_backups_rotate_and_keep_five(settings: Settings, store: Store) -> None:
    for n in range(7):
        report(store, f"run-{n}", [Finding(f"CLM-{n}")])
        assert sync_workbook(settings, store).written
    path = settings.workbook_path
    assert [backup_path(path, n).exists() for n in range(1, 7)] == [True] * 5 + [False]
    assert len(rows_by_id(backup_path(path, 1))) == 6 and len(rows_by_id(backup_path(path, 5))) == 2


def test_slow_reader_path_gives_the_same_answer(settings: Settings, store: Store,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    report(store, "run-1", CLAIMS)
    sync_workbook(settings, store)
    ids = _ids_by_claim(store)
    coder_edit(settings.workbook_path, "Denials", {ids["CLM-2001"]: {"Status": "In Progress",
                                                                     "Resolved On": "2026-11-03"}})
    fast = read_coder_columns(settings.workbook_path)
    monkeypatch.setattr(_FastSheet, "usable", staticmethod(lambda data: False))
    slow = read_coder_columns(settings.workbook_path)
    assert fast.values == slow.values and fast.order == slow.order
    assert fast.values[ids["CLM-2001"]]["resolved_on"] == "2026-11-03"


def test_cli_write_and_status(settings: Settings, store: Store) -> None:
    report(store, "run-1", CLAIMS)
    written = _cli(settings, "workbook", "write")
    assert written.exit_code == 0 and f"wrote {len(CLAIMS)} rows" in written.output
    status = _cli(settings, "workbook", "status", "--json")
    data = json.loads(status.output)
    assert data["pending_rows"] == 0 and data["rows"] == len(CLAIMS) and not data["lock_present"]
    assert data["last_written_rows"] == len(CLAIMS)
    text = _cli(settings, "workbook", "status")
    assert text.exit_code == 0 and "pending" in text.output


def test_bad_workbook_config_names_file_and_key(settings: Settings) -> None:
    toml = settings.config_dir / "workbook.toml"
    edit_toml(toml, lambda doc: doc["resolutions"]["Denials"].__setitem__(0, "Appeal, or not"))
    with pytest.raises(ConfigError) as err:
        load_layout(settings)
    assert str(toml) in str(err.value) and "resolutions" in str(err.value)


def test_audit_records_every_coder_change(settings: Settings, store: Store) -> None:
    report(store, "run-1", CLAIMS[:1])
    sync_workbook(settings, store)
    ex_id = _ids_by_claim(store)["CLM-1001"]
    coder_edit(settings.workbook_path, "Claim Edits", {ex_id: {"Assigned To": "jlee"}})
    sync_workbook(settings, store)
    coder_edit(settings.workbook_path, "Claim Edits", {ex_id: {"Assigned To": "mpatel", "Status": "In Progress"}})
    sync_workbook(settings, store)
    rows = store.audit_records(action="coder_update")
    assert [(json.loads(r["detail"]), r["result"]) for r in rows] == [
        ({"assigned_to": "jlee"}, "New"), ({"assigned_to": "mpatel", "status": "In Progress"}, "In Progress")]
    assert store.exception_rows()[0]["coder_updated_at"] is not None


def test_every_bot_run_writes_the_workbook_and_says_so(settings: Settings, store: Store) -> None:
    from bots.core.runner import run_bot
    from fake_bots import CountingBot

    result = run_bot(CountingBot(6, business={1, 4}), settings, store)
    assert result.workbook == f"wrote 2 rows to {settings.workbook_path}"
    rows = rows_by_id(settings.workbook_path)
    assert sorted(r["Claim ID"] for r in rows.values()) == ["item-001", "item-004"]
    assert {r["_sheet"] for r in rows.values()} == {"Claim Edits"}


def test_markup_control_characters_and_formula_like_text_are_written_as_plain_text(
        settings: Settings, store: Store) -> None:
    report(store, "run-1", [Finding("CLM-1001", detail="x <b>&amp;</b> \x07bell  ", rule_id="=SUM(A1)")])
    sync_workbook(settings, store)
    row = next(iter(rows_by_id(settings.workbook_path).values()))
    assert row["Rule ID"] == "=SUM(A1)"
    ws = load_workbook(settings.workbook_path)["Claim Edits"]
    rule_id = column_letter(next(i for i, c in enumerate(COLUMNS, 1) if c.header == "Rule ID"))
    assert ws[f"{rule_id}2"].data_type == "s"  # text, never a formula
    ex_id = row["Exception ID"]
    coder_edit(settings.workbook_path, "Claim Edits", {ex_id: {"Resolution Note": "  café <ok> & done 😀"}})
    sync_workbook(settings, store)
    assert stored(store)[ex_id]["resolution_note"] == "café <ok> & done 😀"
    assert rows_by_id(settings.workbook_path)[ex_id]["Resolution Note"] == "café <ok> & done 😀"


def test_retry_by_bot_on_a_bot_failure_requeues_the_item_and_a_success_clears_the_row(
        settings: Settings, store: Store) -> None:
    from bots.core.runner import run_bot
    from fake_bots import CountingBot

    settings.config.retry.attempts = 1
    settings.config.bots["claim_edits"].max_attempts = 1
    run_bot(CountingBot(3, fail={1}), settings, store)
    path = settings.workbook_path
    failure = next(ex_id for ex_id, row in stored(store).items() if row["queue"] == "Bot Failures")
    coder_edit(path, "Bot Failures", {failure: {"Status": "Resolved", "Resolution": "Retry by bot",
                                                "Resolution Note": "portal back up", "Resolved By": "it-desk"}})
    sync_workbook(settings, store)
    assert stored(store)[failure]["bot_status"] == "Synced"
    assert store.ready_resolutions() == [], "a retry is the bots' own job, not a billing update"
    assert store.item_counts("claim_edits") == {"done": 2, "new": 1}

    again = CountingBot(3)
    run_bot(again, settings, store)
    assert again.calls == {"item-001": 1}
    assert stored(store)[failure]["bot_status"] == "Cleared"
    assert rows_by_id(path)[failure]["Bot Status"] == "Cleared"
