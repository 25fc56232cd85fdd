"""Coders' resolutions in the exception workbook reach billing, and the row turns Synced; a
resolution without its mandatory evidence, or without a billing status, does not sync."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config_helpers import edit_toml
from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.workbook import sync_workbook
from mock_portals import MockPortals
from status_sync.sync_helpers import audit_rows, billing, exception_rows, items, run
from workbook_helpers import Finding, coder_edit, report, rows_by_id, stored

pytestmark = pytest.mark.browser

FINDINGS = [Finding("CLM-1005"), Finding("CLM-1006"),
            Finding("CLM-1010", queue="Denials", rule_id="PORTAL-DENIED", detail="CO-50", bot="payer_portal")]


def _ids(store: Store) -> dict[str, str]:
    return {row["claim_id"]: ex_id for ex_id, row in stored(store).items()}


def test_a_coder_resolution_flows_to_billing_and_the_row_turns_synced_but_not_without_its_note(
        settings: Settings, store: Store, env: MockPortals) -> None:
    report(store, "run-1", FINDINGS)
    sync_workbook(settings, store)
    path = settings.workbook_path
    ids = _ids(store)
    coder_edit(path, "Claim Edits", {
        ids["CLM-1005"]: {"Status": "Resolved", "Resolution": "Corrected claim", "Resolution Note": "modifier 25 added",
                          "Resolved By": "J. SMITH"},
        ids["CLM-1006"]: {"Status": "Resolved", "Resolution": "Coding updated", "Resolved By": "mpatel"},  # no note
    })
    coder_edit(path, "Denials", {ids["CLM-1010"]: {"Status": "Resolved", "Resolution": "Appeal",
                                                   "Resolution Note": "records attached", "Resolved By": "jlee"}})
    result = run(settings, store)
    assert result.counts["done"] == 2 and result.counts["exceptions"] == 0

    queue_now = billing(env)
    assert queue_now["CLM-1005"]["status"] == "Ready to rebill"
    assert queue_now["CLM-1005"]["note"] == (f'rcm-bots: coder resolution "Corrected claim" by J. SMITH for '
                                             f'{ids["CLM-1005"]}; note: modifier 25 added')
    assert queue_now["CLM-1010"]["status"] == "Appeal in progress"
    assert queue_now["CLM-1006"]["status"] == "Submitted" and not queue_now["CLM-1006"].get("history")

    book = rows_by_id(path)  # the workbook as a coder reopens it after the run
    assert book[ids["CLM-1005"]]["Bot Status"] == "Synced" and book[ids["CLM-1010"]]["Bot Status"] == "Synced"
    assert book[ids["CLM-1006"]]["Bot Status"] == "Open"
    assert book[ids["CLM-1006"]]["Bot Check"] == "missing Resolution Note"
    assert book[ids["CLM-1005"]]["Run ID"] == result.run_id

    # The audit trail links the coder's resolution to the billing update and its evidence.
    link = next(r for r in audit_rows(store, "resolution_applied") if r["claim_id"] == "CLM-1005")
    detail = json.loads(link["detail"])
    assert detail == {"exception_id": ids["CLM-1005"], "queue": "Claim Edits", "resolution": "Corrected claim",
                      "resolved_by": "J. SMITH", "billing_status": "Ready to rebill", "billing": "pushed"}
    pushed = next(r for r in audit_rows(store, "status_pushed") if r["claim_id"] == "CLM-1005")
    assert link["evidence_sha256"] == pushed["evidence_sha256"] and link["item_ref"] == pushed["item_ref"]

    # A rerun writes nothing new; the note added later syncs the held-back row.
    history = {c: len(e.get("history") or []) for c, e in billing(env).items()}
    assert run(settings, store).counts["items"] == 0
    assert {c: len(e.get("history") or []) for c, e in billing(env).items()} == history
    coder_edit(path, "Claim Edits", {ids["CLM-1006"]: {"Resolution Note": "99213 per the note"}})
    assert run(settings, store).counts["done"] == 1
    assert billing(env)["CLM-1006"]["status"] == "Ready to submit"
    assert rows_by_id(path)[ids["CLM-1006"]]["Bot Status"] == "Synced"
    assert store.verify_audit() == []


def test_a_resolution_without_a_billing_status_is_an_exception_until_it_is_mapped(
        settings: Settings, store: Store, env: MockPortals, config_dir: Path) -> None:
    # A site adds a Denials choice to the workbook but forgets config/billing.toml.
    workbook_toml = config_dir / "workbook.toml"
    edit_toml(workbook_toml, lambda doc: doc["resolutions"]["Denials"].append("Sent to collections"))
    report(store, "run-1", FINDINGS[2:])
    sync_workbook(settings, store)
    (ex_id,) = _ids(store).values()
    coder_edit(settings.workbook_path, "Denials", {ex_id: {
        "Status": "Resolved", "Resolution": "Sent to collections", "Resolution Note": "balance > 120 days",
        "Resolved By": "jlee"}})
    assert run(settings, store).counts["exceptions"] == 1
    (row,) = exception_rows(store)
    assert row["rule_id"] == "SYNC-UNMAPPED-RESOLUTION" and row["queue"] == "Denials"
    assert "Sent to collections" in row["reason"] and Path(row["evidence_file"]).read_bytes().startswith(b"\x89PNG")
    assert billing(env)["CLM-1010"]["status"] == "Submitted"
    assert rows_by_id(settings.workbook_path)[ex_id]["Bot Status"] == "Open"

    billing_toml = config_dir / "billing.toml"
    edit_toml(billing_toml, lambda doc: doc["resolutions"].update({"Sent to collections": "Closed"}))
    assert run(settings, store).counts["done"] == 1  # the mapping is part of the item's digest: a new cycle
    assert billing(env)["CLM-1010"]["status"] == "Closed"
    assert rows_by_id(settings.workbook_path)[ex_id]["Bot Status"] == "Synced"
    assert items(store)[f"resolution:{ex_id}"]["cycles"] == 2


def test_a_resolution_that_needs_no_billing_change_is_recorded_and_synced_without_a_browser(
        settings: Settings, store: Store, env: MockPortals) -> None:
    report(store, "run-1", [Finding("CLM-1011", queue="Bot Failures", rule_id="BOT-FAILURE", bot="payer_portal")])
    sync_workbook(settings, store)
    (ex_id,) = _ids(store).values()
    coder_edit(settings.workbook_path, "Bot Failures", {ex_id: {
        "Status": "Resolved", "Resolution": "Done by hand", "Resolution Note": "status read by phone: paid",
        "Resolved By": "jlee"}})
    assert run(settings, store).counts["done"] == 1
    assert env.stats["requests"]["billing"] == 0
    assert rows_by_id(settings.workbook_path)[ex_id]["Bot Status"] == "Synced"
    (link,) = audit_rows(store, "resolution_applied")
    assert json.loads(link["detail"])["billing"] == "no_billing_change"
