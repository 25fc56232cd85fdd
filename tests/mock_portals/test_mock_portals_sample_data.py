"""The shipped sample data covers every routing row of DESIGN section 5, consistently."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from mock_portals import BILLING_STATUSES, SAMPLE_DATA, carc_text

WORKLIST = SAMPLE_DATA.with_name("sample_worklist.csv")
COLUMNS = [
    "claim_id", "payer_id", "member_id", "patient_name", "patient_dob", "date_of_service",
    "provider_npi", "line_no", "procedure_code", "modifiers", "units", "charge", "diagnosis_codes",
    "diagnosis_pointers", "prior_auth_number", "note_id", "note_signed", "note_date", "time_minutes",
    "submitted_date", "expected_amount",
]


@pytest.fixture(scope="module")
def data() -> dict:
    return json.loads(Path(SAMPLE_DATA).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def lines() -> dict[str, list[dict[str, str]]]:
    with open(WORKLIST, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == COLUMNS
        by_claim: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in reader:
            by_claim[row["claim_id"]].append(row)
    return by_claim


def portal_claims(data: dict) -> list[tuple[str, dict]]:
    return [(payer, c) for payer in ("acme", "beacon") for c in data["payers"][payer]["claims"]]


def npi_is_valid(npi: str) -> bool:
    digits = [int(d) for d in "80840" + npi]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return len(npi) == 10 and total % 10 == 0


def test_every_routing_row_is_covered(data: dict, lines: dict) -> None:
    claims = portal_claims(data)
    assert len(claims) >= 60
    categories = {c["expected_status_category"] for _, c in claims}
    for row in ({"A1", "A2"}, {"A3", "A6", "A7", "A8"}, {"P0", "P1", "P2", "P5"}, {"P3", "P4"},
                {"F1"}, {"F2"}, {"F0", "F3", "F4"}):
        assert categories & row, row
    for payer in ("acme", "beacon"):
        assert any(c["expected_status_category"] is None for c in data["payers"][payer]["claims"])

    on_portal = {c["claim_id"] for _, c in claims}
    not_found = [q for q in data["billing"]["queue"]
                 if q["claim_id"] not in on_portal and lines[q["claim_id"]][0]["submitted_date"]]
    assert {q["payer_id"] for q in not_found} == {"acme", "beacon"}

    paid = [c for _, c in claims if c["expected_status_category"] == "F1"]
    expected = {c["claim_id"]: Decimal(lines[c["claim_id"]][0]["expected_amount"]) for c in paid}
    full = [c for c in paid if Decimal(str(c["paid"])) == expected[c["claim_id"]]]
    short = [c for c in paid if expected[c["claim_id"]] - Decimal(str(c["paid"])) > 10]
    assert len(full) >= 4 and len(short) >= 4

    denied = [c for _, c in claims if c["expected_status_category"] == "F2"]
    assert denied and all(c["carc"] for c in denied)


def test_status_vocabularies_differ_per_payer(data: dict) -> None:
    words = {p: {c["status"] for c in data["payers"][p]["claims"]} for p in ("acme", "beacon")}
    assert {"Received", "Accepted", "In Process", "Pending Review", "On Hold",
            "Additional Information Requested", "Paid", "Denied", "Rejected",
            "Finalized - No Payment", "Adjusted", "Suspended - Legacy"} == words["acme"]
    assert {"RECEIVED", "ACCEPTED", "PENDED", "IN REVIEW", "ON HOLD", "ADDL INFO REQUESTED",
            "FINALIZED - PAID", "DENIED", "REJECTED", "FINALIZED - NO PAY", "REVISED",
            "CLOSED - CONVERTED"} == words["beacon"]


def test_beacon_has_exactly_one_ambiguous_member_and_date(data: dict) -> None:
    keys: dict[tuple[str, str], list[str]] = defaultdict(list)
    for c in data["payers"]["beacon"]["claims"]:
        keys[(c["member_id"], c["date_of_service"])].append(c["claim_id"])
    assert sorted(len(ids) for ids in keys.values() if len(ids) > 1) == [2]


def test_billing_queue_holds_every_claim(data: dict, lines: dict) -> None:
    queue = {q["claim_id"]: q for q in data["billing"]["queue"]}
    assert set(queue) == set(lines)
    for claim_id, claim_lines in lines.items():
        submitted = bool(claim_lines[0]["submitted_date"])
        assert queue[claim_id]["status"] == ("Submitted" if submitted else "Ready to submit")
        assert queue[claim_id]["payer_id"] == claim_lines[0]["payer_id"]
    assert all(q["status"] in BILLING_STATUSES for q in queue.values())
    unsubmitted = [c for c, ls in lines.items() if not ls[0]["submitted_date"]]
    assert len(unsubmitted) >= 10


def test_worklist_matches_the_portals(data: dict, lines: dict) -> None:
    for payer, claim in portal_claims(data):
        claim_lines = lines[claim["claim_id"]]
        first = claim_lines[0]
        assert (first["payer_id"], first["member_id"], first["patient_name"], first["date_of_service"]) == (
            payer, claim["member_id"], claim["patient_name"], claim["date_of_service"])
        billed = sum(Decimal(r["charge"]) * int(r["units"]) for r in claim_lines)
        assert billed == Decimal(str(claim["billed"]))
        assert all(r["submitted_date"] for r in claim_lines)


def test_worklist_npis_pass_the_luhn_check(lines: dict) -> None:
    assert npi_is_valid("1234567893")
    assert not npi_is_valid("1234567890")
    npis = {r["provider_npi"] for rows in lines.values() for r in rows}
    assert npis and all(npi_is_valid(n) for n in npis)


def test_every_carc_in_the_sample_has_text(data: dict) -> None:
    for _, claim in portal_claims(data):
        for code in claim["carc"]:
            assert carc_text(code), code


def test_sample_users_match_the_documented_credentials(data: dict) -> None:
    assert data["payers"]["acme"]["users"][0] == {"username": "robot", "password": "acme-robot-pass"}
    beacon = data["payers"]["beacon"]["users"][0]
    assert (beacon["username"], beacon["password"]) == ("robot", "beacon-robot-pass")
    assert len(beacon["totp_secret"]) % 8 == 0
    assert data["billing"]["users"][0] == {"username": "robot", "password": "billing-robot-pass"}
