"""An appeal end to end against the mock portals: the portal's CO-50 denial, the coder's appeal,
the evidence typed into the workbook (saved once through LibreOffice), status_sync's billing update
citing the submission reference (read back from billing), and the payer's later decision recorded
against the appeal row by the next portal read."""

from __future__ import annotations

import json

import httpx
import pytest

from bots.core.settings import Settings
from bots.core.store import Store
from mock_portals import MockPortals
from office_helpers import save_through_libreoffice
from payer_portal import portal_helpers as portal
from status_sync import sync_helpers as sync
from workbook_helpers import coder_edit, rows_by_id

pytestmark = pytest.mark.browser

CLAIM = "CLM-1025"  # acme shows it Denied on 2026-09-26 with CO-50 (not medically necessary)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, portals: MockPortals) -> MockPortals:
    portal.robot_env(monkeypatch, portals.url)
    sync.billing_env(monkeypatch, portals.url)
    return portals


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings = portal.set_retry(settings, attempts=3)
    return sync.set_retry(settings, attempts=3)


def test_a_complete_appeal_reaches_billing_with_its_reference_and_the_payers_decision_is_recorded(
        settings: Settings, store: Store, env: MockPortals) -> None:
    portal.load_sample(store)
    portal.run(settings, store, only=[CLAIM])
    path = settings.workbook_path
    [denial] = [r for r in store.exception_rows(queue="Denials") if r["claim_id"] == CLAIM]
    coder_edit(path, "Denials", {denial["exception_id"]: {
        "Status": "Resolved", "Resolution": "Appeal", "Resolution Note": "documentation supports necessity",
        "Resolved By": "jlee"}})
    sync.run(settings, store, only=[CLAIM])  # the denial's resolution: billing shows the appeal in progress
    assert sync.billing(env)[CLAIM]["status"] == "Appeal in progress"
    [appeal] = [r["exception_id"] for r in store.exception_rows(queue="Appeal Preparation")]
    shown = rows_by_id(path)[appeal]
    assert shown["Category"] == "Medical necessity" and shown["Deadline"].date().isoformat() == "2027-03-25"

    # The coder resolves it with one document missing, in LibreOffice: held back, nothing applied.
    coder_edit(path, "Appeal Preparation", {appeal: {
        "Doc: Signed note": "Yes", "Doc: Order": "Yes", "Appeal Letter Ref": "LTR-2026-118",
        "Submitted On": "2026-11-30", "Submission Ref": "ACME-APL-55821", "Status": "Resolved",
        "Resolution": "Appeal submitted", "Resolution Note": "appeal filed on the acme portal",
        "Resolved By": "jlee", "Resolved On": "2026-11-30"}})
    save_through_libreoffice(path)
    assert sync.run(settings, store, only=[CLAIM]).counts["items"] == 0
    row = rows_by_id(path)[appeal]
    assert row["Bot Check"].startswith("missing appeal evidence: Doc: Letter of medical necessity")
    assert row["Bot Status"] == "Open" and sync.billing(env)[CLAIM]["status"] == "Appeal in progress"

    coder_edit(path, "Appeal Preparation", {appeal: {"Doc: Letter of medical necessity": "Yes"}})
    assert sync.run(settings, store, only=[CLAIM]).counts["done"] == 1
    entry = sync.billing(env)[CLAIM]
    assert entry["status"] == "Appeal submitted"
    assert "submission ref: ACME-APL-55821" in entry["note"] and appeal in entry["note"]
    row = rows_by_id(path)[appeal]
    assert row["Bot Status"] == "Synced" and "Bot Check" not in row and "Outcome" not in row

    # The payer overturns the denial; the next portal read of the claim records the appeal as won.
    httpx.post(f"{env.url}/__admin/appeal-decision", json={"payer": "acme", "claim_id": CLAIM, "decision": "won",
                                                           "date": "2026-12-15"}, timeout=10).raise_for_status()
    with store.begin() as conn:
        store.reopen("payer_portal", [f"acme:{CLAIM}"], conn)
    portal.run(settings, store, only=[CLAIM])
    assert rows_by_id(path)[appeal]["Outcome"] == "won"
    trail = [r for r in store.audit_trail(CLAIM) if r["action"].startswith("appeal_")]
    assert [r["action"] for r in trail] == ["appeal_opened", "appeal_update", "appeal_update", "appeal_complete",
                                            "appeal_submitted", "appeal_outcome"]
    assert json.loads(trail[-1]["detail"])["category"] == "F1" and trail[-1]["result"] == "won"
    assert store.verify_audit() == []
