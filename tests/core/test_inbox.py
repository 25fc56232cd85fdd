"""Worklist inboxes: loaded files are archived, unreadable ones rejected with a report,
bad rows reported beside the archived file, and files still being written left alone."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import stat
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from config_helpers import write_toml

from bots.cli import app
from bots.core.errors import InputError
from bots.core.inbox import process_inbox, resolve_inbox
from bots.core.scheduler import run_scheduled_bot
from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.worklist import COLUMNS
from worklist_helpers import GOOD

ROW = {**GOOD, "diagnosis_codes": "E11.9", "diagnosis_pointers": "1"}


def drop(folder: Path, name: str, rows: list[dict[str, str]] | None = None, *, content: bytes | None = None,
         age: float = 60.0, columns: tuple[str, ...] = COLUMNS) -> Path:
    """A file as if copied into the inbox ``age`` seconds ago."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if content is not None:
        path.write_bytes(content)
    else:
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows or [])
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_inbox_archives_loaded_files_and_rejects_unreadable_ones_with_a_report(settings: Settings,
                                                                               store: Store, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    good = drop(inbox, "good.csv", [ROW, {**ROW, "claim_id": "CLM-2"}], age=90)
    good_sha = hashlib.sha256(good.read_bytes()).hexdigest()
    drop(inbox, "partial.csv", [{**ROW, "claim_id": "CLM-3"}, {**ROW, "claim_id": "CLM-4", "date_of_service": "2026-13-45"}],
         age=80)
    drop(inbox, "header.csv", [ROW], columns=("claim_id", "payer_id", "charge"), age=70)
    drop(inbox, "broken.xlsx", content=b"this is not a workbook", age=60)
    drop(inbox, "copying.csv", [ROW], age=0)                     # still being written
    drop(inbox, "open.csv", [{**ROW, "claim_id": "CLM-9"}])
    drop(inbox, "~$open.csv", content=b"owner")                  # open in Excel right now
    drop(inbox, "notes.pdf", content=b"%PDF")                    # not a worklist

    result = process_inbox(settings, store, inbox)

    assert [f.name for f in result.archived] == ["good.csv", "partial.csv"], "oldest first"
    assert [f.name for f in result.rejected] == ["header.csv", "broken.xlsx"]
    assert sorted(result.waiting) == ["copying.csv", "open.csv"]
    assert sorted(p.name for p in inbox.iterdir()) == ["archive", "copying.csv", "notes.pdf", "open.csv",
                                                       "rejected", "~$open.csv"]
    good_row, partial_row = result.archived
    assert Path(good_row.moved_to).parent == inbox / "archive" and Path(good_row.moved_to).name.endswith("-good.csv")
    assert good_row.report is None and good_row.load and good_row.load.claims_new == 2

    report = Path(partial_row.report or "").read_text()
    assert "partial.csv" in report and "row 3, column date_of_service" in report and "2026-13-45" in report
    assert Path(partial_row.report or "").parent == inbox / "archive"

    header, broken = result.rejected
    assert Path(header.moved_to).parent == inbox / "rejected" and Path(header.moved_to).exists()
    header_report = Path(header.moved_to + ".report.txt").read_text()
    assert "header.csv" in header_report and "missing required column" in header_report
    assert "not a readable xlsx workbook" in Path(broken.report or "").read_text()

    loaded = {r["claim_id"] for r in store.claim_rows()}
    input_format = {r["claim_id"] for r in store.exception_rows(rule_id="INPUT-FORMAT")}
    trail = {r["item_ref"]: r for r in store.audit_records(action="inbox_file")}
    assert loaded == {"CLM-1", "CLM-2", "CLM-3"} and input_format == {"CLM-4"}
    assert trail["good.csv"]["result"] == "archived" and trail["good.csv"]["evidence_sha256"] == good_sha
    assert trail["header.csv"]["result"] == "rejected"
    assert store.verify_audit() == []
    assert stat.S_IMODE((inbox / "rejected").stat().st_mode) == 0o700, "worklists hold PHI"
    assert stat.S_IMODE(Path(header.report or "").stat().st_mode) == 0o600

    again = process_inbox(settings, store, inbox, settle_seconds=0)
    assert [f.name for f in again.archived] == ["copying.csv"] and again.waiting == ["open.csv"]


def test_worklist_inbox_command_exits_2_when_a_file_was_rejected(settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--home", str(settings.home), "--config-dir", str(settings.config_dir), "worklist", "inbox"]
    inbox = tmp_path / "drop"
    drop(inbox, "good.csv", [ROW])
    ok = runner.invoke(app, [*base, str(inbox), "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["archived"] == 1
    drop(inbox, "bad.csv", content=b"")
    bad = runner.invoke(app, [*base, str(inbox)])
    assert bad.exit_code == 2 and "rejected" in bad.stdout and "empty file" in bad.stdout
    missing = runner.invoke(app, [*base, str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "inbox folder not found" in missing.output
    none_configured = runner.invoke(app, base)
    assert none_configured.exit_code == 2 and "none configured" in none_configured.output


def test_a_scheduled_run_loads_its_inbox_first(settings: Settings, store: Store,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml(settings.config_dir / "bots.toml",
               {"bots": {"claim_edits": {"schedule": "0 6 * * *", "inbox": "inbox/claim_edits"}}})
    monkeypatch.setenv("BOTS_HOME", str(settings.home))
    monkeypatch.setenv("BOTS_CONFIG_DIR", str(settings.config_dir))
    folder = resolve_inbox(Settings(home=settings.home, config_dir=settings.config_dir, _env_file=None),
                           "inbox/claim_edits")
    assert folder == settings.home / "inbox" / "claim_edits", "relative inboxes live under BOTS_HOME"
    drop(folder, "monday.csv", [ROW])

    summary = run_scheduled_bot("claim_edits", factory="fake_bots:make_two_item_bot")

    assert summary["status"] == "succeeded" and summary["inbox_archived"] == 1 and summary["inbox_rejected"] == 0
    assert [r["trigger"] for r in store.list_runs("claim_edits")] == ["scheduler"]
    assert not (folder / "monday.csv").exists() and len(list((folder / "archive").iterdir())) == 1
    assert [r["claim_id"] for r in store.claim_rows()] == ["CLM-1"]


def test_a_mistyped_inbox_folder_is_an_error_not_a_silent_no_op(settings: Settings, store: Store,
                                                                tmp_path: Path) -> None:
    with pytest.raises(InputError, match="inbox folder not found"):
        process_inbox(settings, store, tmp_path / "inbx")
    assert not (tmp_path / "inbx").exists()
