"""Every routing row of DESIGN section 5, end to end: the sample worklist against the sample
portals in headless Chromium, into the store, the status_sync queue and the workbook."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from bots.core.evidence import sha256_file
from bots.core.settings import Settings
from bots.core.store import Store
from mock_portals import MockPortals

from payer_portal.portal_helpers import (
    edit_profile, exception_rows, expected_routes, items, load_sample, route_taken, run, workbook_rows,
)

pytestmark = pytest.mark.browser


def test_every_sample_claim_takes_its_design_route_into_store_status_queue_and_workbook(
        settings: Settings, store: Store, env: MockPortals) -> None:
    load_sample(store)
    result = run(settings, store)
    assert result.counts["items"] == 65 and result.counts["failed"] == 0 and result.counts["deferred"] == 0

    # Each claim: done (status update only) or exception with the expected queue / rule.
    by_claim: dict[str, list[dict]] = {}
    for row in exception_rows(store):
        by_claim.setdefault(row["claim_id"], []).append(row)
    got = {cid: route_taken(by_claim.get(cid, [])) for cid in expected_routes()}
    assert got == expected_routes()
    states = {ref.split(":")[1]: it["state"] for ref, it in items(store).items()}
    assert all(states[c] == ("done" if r == "status_update" else "exception") for c, r in expected_routes().items())

    # Ambiguous search and unknown status words are exceptions, never guesses.
    assert {r["claim_id"] for rows in by_claim.values() for r in rows if r["rule_id"] == "PORTAL-AMBIGUOUS"} == {
        "CLM-1064", "CLM-1065"}
    unmapped = {r["claim_id"]: r["reason"] for rows in by_claim.values() for r in rows
                if r["rule_id"] == "PORTAL-UNMAPPED-STATUS"}
    assert set(unmapped) == {"CLM-1032", "CLM-1063"} and "'Suspended - Legacy'" in unmapped["CLM-1032"]

    # Reasons are actionable: status word, category, CARC text, paid vs expected.
    denial = by_claim["CLM-1028"][0]["reason"]
    assert "'Denied' (X12 F2" in denial and "CO-16" in denial and "CO-4: The procedure code is inconsistent" in denial
    variance = by_claim["CLM-1022"][0]["reason"]
    assert variance.startswith("Paid $62.90, expected $105.00: short by $42.10")
    assert "X12 A4" in by_claim["CLM-1007"][0]["reason"] and "X12 D0" in by_claim["CLM-1039"][0]["reason"]
    assert "INVALID DIAGNOSIS CODE" in by_claim["CLM-1037"][0]["reason"]
    # High-dollar claims (billed $1,150) go to a senior reviewer.
    assert {c for c, rows in by_claim.items() if rows[0]["review_level"] == "Senior"} == {
        "CLM-1031", "CLM-1040", "CLM-1054"}

    # What was read is on the claim; F categories are final.
    read = {r["claim_id"]: r for r in store.claim_rows() if r["status_checked_at"] is not None}
    assert len(read) == 65
    assert (read["CLM-1016"]["status_category"], read["CLM-1016"]["paid_amount"], read["CLM-1016"]["final"]) == (
        "F1", 138.75, True)
    assert (read["CLM-1009"]["status_category"], read["CLM-1009"]["status_word"], read["CLM-1009"]["final"]) == (
        "P1", "In Process", False)
    assert read["CLM-1063"]["status_category"] is None and read["CLM-1063"]["status_word"] == "CLOSED - CONVERTED"
    assert read["CLM-1039"]["status_category"] == "D0"

    # Billing statuses queued for status_sync (including the payer's verdict on exceptions).
    queued = {i["payload"]["claim_id"]: i["payload"]["status"] for i in store.work_items("status_sync")}
    assert queued["CLM-1001"] == "Accepted" and queued["CLM-1041"] == "Pending" and queued["CLM-1048"] == "Paid"
    assert queued["CLM-1022"] == "Paid"  # paid, with a variance row as well
    assert queued["CLM-1025"] == "Denied" and queued["CLM-1005"] == "Rejected" and queued["CLM-1014"] == "Info requested"
    assert not {"CLM-1007", "CLM-1032", "CLM-1064", "CLM-1029"} & set(queued)

    # The workbook has one row per exception, on the right sheet.
    sheets = workbook_rows(settings)
    in_book = {(sheet, row["Claim ID"], row["Rule ID"]) for sheet, rows in sheets.items() for row in rows}
    assert in_book == {(r["queue"], r["claim_id"], r["rule_id"]) for r in exception_rows(store)}
    assert sum(len(rows) for rows in sheets.values()) == len(in_book) == result.counts["exceptions"]


def test_every_lookup_leaves_an_html_snapshot_pinned_in_the_audit_and_every_exception_a_screenshot(
        settings: Settings, store: Store, env: MockPortals) -> None:
    load_sample(store)
    wanted = ["CLM-1001", "CLM-1025", "CLM-1039", "CLM-1064", "CLM-1048"]
    run(settings, store, only=wanted)
    reads = store.audit_records(action="status_read")
    assert sorted(r["claim_id"] for r in reads) == sorted(wanted)
    for r in reads:
        path = Path(r["evidence_path"])
        assert path.suffix == ".html" and sha256_file(path) == r["evidence_sha256"]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert path.parent.name.endswith(r["run_id"][-6:]) and r["rule_id"] and r["rule_version"] and r["input_digest"]
        detail = json.loads(r["detail"])
        assert "member_id" not in detail and "patient_name" not in detail
    assert {r["claim_id"]: r["result"] for r in reads}["CLM-1025"] == "F2"
    assert "CO-50" in [c["code"] for c in json.loads(next(r for r in reads if r["claim_id"] == "CLM-1025")["detail"])["carc"]]
    for row in exception_rows(store):
        shot = Path(row["evidence_file"])
        assert shot.suffix == ".png" and shot.read_bytes().startswith(b"\x89PNG")
        assert stat.S_IMODE(os.stat(shot).st_mode) == 0o600
        assert "sha256" in row["evidence"]
    assert store.verify_audit() == []


def test_a_rerun_of_the_same_claims_adds_no_duplicate_rows(settings: Settings, store: Store, env: MockPortals,
                                                           config_dir: Path) -> None:
    load_sample(store)
    wanted = ["CLM-1025", "CLM-1064", "CLM-1010"]
    run(settings, store, only=wanted)
    first = {r["exception_id"]: r for r in exception_rows(store)}
    run(settings, store, only=wanted)  # named claims are looked up again now
    again = {r["exception_id"]: r for r in exception_rows(store)}
    assert set(again) == set(first)
    assert {r["claim_id"]: r["times_seen"] for r in again.values()} == {"CLM-1025": 1, "CLM-1064": 2}
    assert {ref: it["cycles"] for ref, it in items(store).items() if ref.split(":")[1] in wanted} == {
        "acme:CLM-1025": 1, "beacon:CLM-1064": 2, "acme:CLM-1010": 2}  # final claims are not looked up again


def test_page_fetch_mode_reads_the_same_as_request_mode(settings: Settings, store: Store, env: MockPortals,
                                                       config_dir: Path) -> None:
    for payer in ("acme", "beacon"):  # a tab per context in page mode: two contexts each will do
        edit_profile(config_dir, payer, {"fetch_mode": '"page"', "concurrency": "2"})
    load_sample(store)
    wanted = ["CLM-1007", "CLM-1022", "CLM-1028", "CLM-1032", "CLM-1042", "CLM-1056", "CLM-1064"]
    run(settings, store, only=wanted)
    taken = {cid: route_taken([r for r in exception_rows(store) if r["claim_id"] == cid]) for cid in wanted}
    assert taken == {cid: expected_routes()[cid] for cid in wanted}
    assert all(Path(r["evidence_file"]).read_bytes().startswith(b"\x89PNG") for r in exception_rows(store))
