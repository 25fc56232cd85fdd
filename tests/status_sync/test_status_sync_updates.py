"""Queued status updates reach the billing work queue through its UI, are read back, and are
never written twice."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from bots.core.evidence import sha256_file
from bots.core.settings import Settings
from bots.core.store import Store
from canaries import log_text
from mock_portals import MockPortals
from status_sync.sync_helpers import (
    BILLING_PASSWORD, PP_RUN, audit_rows, billing, exception_rows, items, queue, reopen_all, run, update,
)

pytestmark = pytest.mark.browser


def test_queued_updates_are_applied_verified_by_read_back_and_a_rerun_writes_nothing(
        settings: Settings, store: Store, env: MockPortals) -> None:
    queue(store, [update("CLM-1001", "Paid"), update("CLM-1002", "Denied", exception_id="EX-0123456789AB"),
                  update("CLM-1033", "Pending", "PENDED", payer="beacon"),
                  update("CLM-1066", "Ready to submit")])  # billing shows that already
    result = run(settings, store)
    assert result.counts["done"] == 4 and result.counts["exceptions"] == result.counts["failed"] == 0

    queue_now = billing(env)
    assert queue_now["CLM-1001"]["status"] == "Paid"
    assert queue_now["CLM-1001"]["note"] == (f"rcm-bots payer_portal run {PP_RUN}: "
                                             f"Acme Health Plan portal 2026-11-05: Paid (X12 F1)")
    assert queue_now["CLM-1002"]["status"] == "Denied" and "(exception EX-0123456789AB)" in queue_now["CLM-1002"]["note"]
    assert queue_now["CLM-1033"]["status"] == "Pending"
    for claim in ("CLM-1001", "CLM-1002", "CLM-1033"):
        (entry,) = queue_now[claim]["history"]
        assert entry["from_status"] == "Submitted" and entry["user"] == "robot"
    # Already at the status: verified, nothing written.
    assert queue_now["CLM-1066"]["status"] == "Ready to submit" and not queue_now["CLM-1066"].get("history")
    (verified,) = audit_rows(store, "status_verified")
    assert verified["claim_id"] == "CLM-1066"

    pushed = {r["claim_id"]: r for r in audit_rows(store, "status_pushed")}
    assert set(pushed) == {"CLM-1001", "CLM-1002", "CLM-1033"}
    detail = json.loads(pushed["CLM-1001"]["detail"])
    assert detail["before"]["status"] == "Submitted" and detail["after"]["status"] == "Paid"
    assert detail["after"]["note"] == queue_now["CLM-1001"]["note"] and detail["source_run"] == PP_RUN
    snapshot = Path(pushed["CLM-1001"]["evidence_path"])
    assert sha256_file(snapshot) == pushed["CLM-1001"]["evidence_sha256"]
    assert stat.S_IMODE(os.stat(snapshot).st_mode) == 0o600
    assert "CLM-1001" in snapshot.read_text() and "Paid" in snapshot.read_text()
    assert BILLING_PASSWORD not in log_text(settings)

    # A rerun finds nothing to do; forcing every item through again writes nothing either.
    history = {c: len(e.get("history") or []) for c, e in billing(env).items()}
    assert run(settings, store).counts["items"] == 0
    reopen_all(store)
    again = run(settings, store)
    assert again.counts["done"] == 4
    assert {c: len(e.get("history") or []) for c, e in billing(env).items()} == history
    assert len(audit_rows(store, "status_verified")) == 5 and len(audit_rows(store, "status_pushed")) == 3
    assert store.verify_audit() == []


def test_an_older_update_is_superseded_by_a_newer_one_for_the_same_claim(
        settings: Settings, store: Store, env: MockPortals) -> None:
    queue(store, [update("CLM-1003", "Pending", "In Process")])
    queue(store, [update("CLM-1003", "Paid")])  # a later payer_portal run: newer
    result = run(settings, store)
    assert result.counts["done"] == 2
    assert [h["status"] for h in billing(env)["CLM-1003"]["history"]] == ["Paid"]
    (skipped,) = audit_rows(store, "status_superseded")
    assert skipped["item_ref"] == "acme:CLM-1003|Pending|"
    assert json.loads(skipped["detail"])["superseded_by"] == "acme:CLM-1003|Paid|"
    assert items(store)["acme:CLM-1003|Pending|"]["result"]["result"] == "superseded"


def test_an_unknown_claim_or_a_status_billing_does_not_offer_is_an_exception_with_a_screenshot(
        settings: Settings, store: Store, env: MockPortals) -> None:
    queue(store, [update("CLM-9999", "Paid"), update("CLM-1004", "Archived")])
    result = run(settings, store)
    assert result.counts["exceptions"] == 2
    rows = {r["rule_id"]: r for r in exception_rows(store)}
    assert set(rows) == {"BILLING-CLAIM-NOT-FOUND", "BILLING-STATUS-NOT-OFFERED"}
    assert rows["BILLING-CLAIM-NOT-FOUND"]["claim_id"] == "CLM-9999"
    assert rows["BILLING-CLAIM-NOT-FOUND"]["queue"] == "Claim Edits"
    assert "'Archived'" in rows["BILLING-STATUS-NOT-OFFERED"]["reason"]
    assert "Write-off review" in rows["BILLING-STATUS-NOT-OFFERED"]["reason"]
    for row in rows.values():
        shot = Path(row["evidence_file"])
        assert shot.read_bytes().startswith(b"\x89PNG") and stat.S_IMODE(os.stat(shot).st_mode) == 0o600
        assert row["payer_id"] == "acme" and "sha256" in row["evidence"]
    assert not billing(env)["CLM-1004"].get("history")
