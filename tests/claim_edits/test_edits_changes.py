"""A new edit table or rules file takes effect on the unsubmitted claims it can change, with a change record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from config_helpers import edit_toml
from bots.claim_edits import create_bot
from bots.claim_edits.importer import import_tables
from bots.claim_edits.tables import edit_table_versions
from bots.cli import app
from bots.core.runner import run_bot
from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.store.changes import CHANGE_EFFECT, CHANGE_RECORDED, RESCAN_REQUESTED
from bots.core.worklist import load_worklist
from claim_edits.edits_helpers import GOOD_ROW, MUE_ROWS, PTP_ROWS, write_mue, write_ptp, write_worklist

ADDED = ("99213", "93010", "20100101", "*", "0")  # bundles CLM-ADD's two lines
DELETED = ("20610", "99214")  # bundled CLM-DEL's two lines


@pytest.fixture
def payer(settings: Settings) -> str:
    folder = settings.config_dir / "payers"
    folder.mkdir(exist_ok=True)
    (folder / "testpayer.toml").write_text('display_name = "Test payer"\n')
    return "testpayer"


def two_lines(claim_id: str, code1: str, code2: str, **kw: str) -> list[dict[str, str]]:
    return [{**GOOD_ROW, "claim_id": claim_id, "procedure_code": code1, **kw},
            {**GOOD_ROW, "claim_id": claim_id, "line_no": "2", "procedure_code": code2, "note_id": "N-2", **kw}]


@pytest.fixture
def scanned(settings: Settings, store: Store, payer: str, tmp_path: Path) -> Store:
    """Tables v1, four claims loaded and scanned once."""
    import_tables(store, [write_ptp(tmp_path / "ptp1.txt", PTP_ROWS)])
    import_tables(store, [write_mue(tmp_path / "mue1.txt", MUE_ROWS)])
    rows = (two_lines("CLM-ADD", "99213", "93010") + two_lines("CLM-DEL", "99214", "20610")
            + [{**GOOD_ROW, "claim_id": "CLM-CLEAN"}]
            + two_lines("CLM-SENT", "99213", "93010", submitted_date="2026-10-20"))
    load_worklist(store, write_worklist(tmp_path / "wl.csv", rows))
    assert run_bot(create_bot(settings), settings, store, write_workbook=False).ok
    return store


def ptp_v2(tmp_path: Path) -> Path:
    return write_ptp(tmp_path / "ptp2.txt", [r for r in PTP_ROWS if r[:2] != DELETED] + [ADDED])


def ptp_rows(store: Store, claim_id: str, status: str) -> list[str]:
    return sorted(r["exception_id"] for r in store.exception_rows("claim_edits", claim_ids=[claim_id],
                                                                   bot_status=status, rule_id="NCCI-PTP"))


def cli(settings: Settings, *args: str):
    return CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir), *args])


def test_ptp_version_adding_and_deleting_pairs_raises_one_row_clears_one_and_records_both(
        settings: Settings, scanned: Store, tmp_path: Path) -> None:
    store = scanned
    assert ptp_rows(store, "CLM-ADD", "Open") == []
    was_open = ptp_rows(store, "CLM-DEL", "Open")
    assert len(was_open) == 1

    result = import_tables(store, [ptp_v2(tmp_path)])
    change = store.changes()[-1]
    assert change["id"] == result.change_id and change["kind"] == "ptp_table"
    assert change["summary"]["added_pairs"] == ["99213/93010"]
    assert change["summary"]["deleted_pairs"] == ["20610/99214"]
    assert change["refs"] == 2, "only the two unsubmitted claims billing a changed pair are sent back"
    assert change["effect"] is None, "the effect is known once the claims were scanned again"

    run = run_bot(create_bot(settings), settings, store, write_workbook=False)
    assert run.counts["items"] == 2, "an unchanged claim is rescanned because the table changed"
    raised = ptp_rows(store, "CLM-ADD", "Open")
    assert len(raised) == 1
    assert ptp_rows(store, "CLM-DEL", "Cleared") == was_open
    effect = store.changes()[-1]["effect"]
    assert effect == {"raised": {"NCCI-PTP": raised}, "cleared": {"NCCI-PTP": was_open}, "rescanned": 2}

    # The trail proves it: the change, the claim sent back, its rescan citing the new table, the effect.
    trail = store.audit_trail("CLM-ADD")
    actions = [r["action"] for r in trail]
    assert actions.index(RESCAN_REQUESTED) < len(actions) - 1 - actions[::-1].index("rules_evaluated")
    last_scan = json.loads([r for r in trail if r["action"] == "rules_evaluated"][-1]["detail"])
    assert last_scan["tables"]["ptp"] == result.label
    assert store.audit_trail("CLM-CLEAN")[-1]["action"] != RESCAN_REQUESTED
    assert not [r for r in store.audit_trail("CLM-SENT") if r["action"] == RESCAN_REQUESTED]
    assert len(store.audit_records(action=CHANGE_RECORDED)) == 1
    assert len(store.audit_records(action=CHANGE_EFFECT)) == 1

    shown = cli(settings, "edits", "changes")
    assert shown.exit_code == 0, shown.output
    assert "1 pair(s) added (99213/93010)" in shown.output and "1 pair(s) deleted (20610/99214)" in shown.output
    assert f"raised 1 NCCI-PTP row(s): {raised[0]}" in shown.output
    assert f"cleared 1 NCCI-PTP row(s): {was_open[0]}" in shown.output
    audit = cli(settings, "audit", "show", "CLM-ADD")
    assert RESCAN_REQUESTED in audit.output and result.label in audit.output


def test_dry_run_shows_the_same_effect_and_changes_nothing(settings: Settings, scanned: Store, tmp_path: Path) -> None:
    store = scanned

    def state() -> tuple:
        with store.read() as conn:
            versions = conn.execute(edit_table_versions.select().order_by(edit_table_versions.c.version_id)).all()
        rows = sorted((r["exception_id"], r["bot_status"], r["times_seen"]) for r in store.exception_rows())
        return versions, rows, len(store.audit_records()), store.item_counts(), store.changes()

    before = state()
    out = cli(settings, "edits", "import", str(ptp_v2(tmp_path)), "--dry-run", "--json")
    assert out.exit_code == 0, out.output
    preview = json.loads(out.output)
    assert state() == before, "a dry run activates nothing and writes nothing"
    assert preview["summary"]["added_pairs"] == ["99213/93010"]

    import_tables(store, [ptp_v2(tmp_path)])
    assert run_bot(create_bot(settings), settings, store, write_workbook=False).ok
    assert preview["effect"] == store.changes()[-1]["effect"], "the preview is what the rescan did"

    text = cli(settings, "edits", "import", str(ptp_v2(tmp_path)), "--dry-run")
    assert "was not activated" in text.output and "no row raised or cleared" in text.output


def test_rule_version_bump_rescans_and_the_audit_shows_old_and_new_version(
        settings: Settings, scanned: Store) -> None:
    store = scanned
    first = [r for r in store.audit_trail("CLM-CLEAN") if r["action"] == "rules_evaluated"]
    edit_toml(settings.config_file("rules", "claim_edits.toml"),
              lambda doc: doc["rules"]["NCCI-PTP"].update(version="2"))

    run = run_bot(create_bot(settings), settings, store, write_workbook=False)
    assert run.counts["items"] == 3, "every unsubmitted claim is scanned again"
    change = store.changes()[-1]
    assert change["kind"] == "rules"
    assert change["summary"]["rules"] == {"NCCI-PTP": {"old": "1", "new": "2"}}
    assert change["effect"] == {"raised": {}, "cleared": {}, "rescanned": 3}

    scans = [r for r in store.audit_trail("CLM-CLEAN") if r["action"] == "rules_evaluated"]
    assert len(scans) == len(first) + 1

    def ptp_version(record: dict) -> str:
        return next(v["version"] for v in json.loads(record["detail"])["verdicts"] if v["rule"] == "NCCI-PTP")

    assert (ptp_version(scans[-2]), ptp_version(scans[-1])) == ("1", "2")
    shown = cli(settings, "audit", "show", "CLM-CLEAN")
    assert "NCCI-PTP v1 -> pass" in shown.output and "NCCI-PTP v2 -> pass" in shown.output
    rescan = next(line for line in shown.output.splitlines() if RESCAN_REQUESTED in line)
    assert '"rules":{"NCCI-PTP":{"new":"2","old":"1"}}' in rescan

    again = run_bot(create_bot(settings), settings, store, write_workbook=False)
    assert again.counts["items"] == 0, "an unchanged rules file sends nothing back"


def test_workbook_summary_shows_the_latest_change_and_its_effect(settings: Settings, scanned: Store,
                                                                 tmp_path: Path) -> None:
    from openpyxl import load_workbook

    import_tables(scanned, [ptp_v2(tmp_path)])
    assert run_bot(create_bot(settings), settings, scanned).ok
    summary = {r[0]: r for r in load_workbook(settings.workbook_path)["Summary"].iter_rows(values_only=True) if r[0]}
    latest = summary["Latest rule or table change"]
    assert "ptp_table ptp: 1 pair(s) added (99213/93010); 1 pair(s) deleted (20610/99214)" in latest[2]
    assert summary["Its effect"][1] == "1 raised, 1 cleared"
    assert summary["  raised: NCCI-PTP"][1] == 1 and summary["  cleared: NCCI-PTP"][1] == 1


def test_mue_version_sends_back_only_claims_billing_a_changed_code(settings: Settings, scanned: Store,
                                                                   tmp_path: Path) -> None:
    rows = [(code, 2 if code == "20610" else value, mai) for code, value, mai in MUE_ROWS] + [("93010", 1, 2)]
    import_tables(scanned, [write_mue(tmp_path / "mue2.txt", rows)])
    change = scanned.changes()[-1]
    assert change["kind"] == "mue_table"
    assert (change["summary"]["added_codes"], change["summary"]["changed_codes"]) == (["93010"], ["20610"])
    assert change["refs"] == 2, "CLM-DEL bills 20610 and CLM-ADD 93010; CLM-SENT is submitted"
    run = run_bot(create_bot(settings), settings, scanned, write_workbook=False)
    assert run.counts["items"] == 2
    assert scanned.changes()[-1]["effect"]["rescanned"] == 2
