"""Claims a test describes itself: payer errors, wrong-claim pages, denial patterns, payment
tolerance, unknown payers; and no PHI or credential in any log line, even when things fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bots.core.runner import run_bot
from bots.payer_portal import create_bot
from bots.core.settings import Settings
from config_helpers import edit_toml
from bots.core.store import Store
from bots.core.worklist import load_worklist
from bots.payer_portal.routing import DenialHistory
from canaries import CANARY_DOB, CANARY_MEMBER, CANARY_NAME, CANARY_PASSWORD, log_text
from mock_portals import MockPortals
from payer_portal.portal_helpers import (
    BEACON_SECRET, exception_rows, items, robot_env, run, set_retry, write_worklist,
)

pytestmark = pytest.mark.browser


def portal_claim(claim_id: str, member: str, status: str, *, paid: float | None = None, carc: list[str] | None = None,
                 dos: str = "2026-09-10", name: str = "DOE, JANE") -> dict[str, Any]:
    return {"claim_id": claim_id, "member_id": member, "patient_name": name, "date_of_service": dos, "billed": 125.0,
            "status": status, "status_date": "2026-10-01", "paid": paid, "paid_date": "2026-10-01" if paid else None,
            "check_number": "EFT1" if paid else "", "payer_claim_number": f"X-{claim_id}", "carc": carc or [],
            "remarks": ""}


def worklist_row(claim_id: str, payer: str, member: str, *, dos: str = "2026-09-10", name: str = "DOE, JANE",
                 dob: str = "1970-01-01", expected: str = "100.00") -> dict[str, str]:
    return {"claim_id": claim_id, "payer_id": payer, "member_id": member, "patient_name": name, "patient_dob": dob,
            "date_of_service": dos, "expected_amount": expected}


CANARY = {"name": CANARY_NAME, "member": CANARY_MEMBER, "dob": CANARY_DOB}


def data(acme_password: str = "acme-robot-pass") -> dict[str, Any]:
    acme = [
        portal_claim("CLM-2001", CANARY_MEMBER, "Paid", paid=100.0, carc=["CO-45"], name=CANARY_NAME),
        portal_claim("CLM-2002", "A2002", "Payer System Error"),
        portal_claim("CLM-2003", "A9999", "In Process"),                       # another member than the worklist's
        portal_claim("CLM-2004", "A2004", "Denied", paid=0.0, carc=["CO-97"]),
        portal_claim("CLM-2005", "A2005", "Denied", paid=0.0, carc=["CO-97", "CO-45"]),
        portal_claim("CLM-2006", "A2006", "Denied", paid=0.0, carc=["CO-97"]),
        portal_claim("CLM-2007", "A2007", "Paid", paid=98.0),                   # $2 short: within tolerance
        portal_claim("CLM-2008", "A2008", "Paid", paid=80.0),                   # $20 short: a variance
    ]
    beacon = [portal_claim("CLM-2101", CANARY_MEMBER, "PENDED", name=CANARY_NAME)]
    return {"payers": {"acme": {"users": [{"username": "robot", "password": acme_password}], "claims": acme},
                       "beacon": {"users": [{"username": "robot", "password": "beacon-robot-pass",
                                             "totp_secret": BEACON_SECRET}], "claims": beacon}}}


def load(store: Store, tmp_path: Path) -> None:
    rows = [worklist_row("CLM-2001", "acme", CANARY_MEMBER, name=CANARY_NAME, dob=CANARY_DOB),
            worklist_row("CLM-2002", "acme", "A2002"), worklist_row("CLM-2003", "acme", "A2003"),
            worklist_row("CLM-2004", "acme", "A2004"), worklist_row("CLM-2005", "acme", "A2005"),
            worklist_row("CLM-2006", "acme", "A2006"), worklist_row("CLM-2007", "acme", "A2007"),
            worklist_row("CLM-2008", "acme", "A2008"),
            worklist_row("CLM-2101", "beacon", CANARY_MEMBER, name=CANARY_NAME, dob=CANARY_DOB),
            worklist_row("CLM-2201", "zeta", "Z2201")]
    load_worklist(store, write_worklist(tmp_path / "worklist.csv", rows))


def test_payer_errors_wrong_claims_denial_patterns_tolerance_and_unknown_payers_route_as_configured(
        settings: Settings, store: Store, config_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A word the payer uses for its own system trouble: X12 E1, a fault to retry, never a decision.
    profile = config_dir / "payers" / "acme.toml"
    edit_toml(profile, lambda doc: doc["status_map"].update({"Payer System Error": "E1"}))
    settings = set_retry(settings, attempts=2, max_attempts=1)
    load(store, tmp_path)
    with MockPortals(data=data()) as portals:
        robot_env(monkeypatch, portals.url)
        result = run(settings, store)
    assert result.counts["items"] == 10
    rows = {r["claim_id"]: r for r in exception_rows(store)}
    state = {ref.split(":")[1]: i["state"] for ref, i in items(store).items()}

    assert state["CLM-2002"] == "failed" and rows["CLM-2002"]["queue"] == "Bot Failures"
    assert "PortalError" in rows["CLM-2002"]["reason"] and "X12 E1" in rows["CLM-2002"]["reason"]
    assert result.counts["retries"] >= 1  # E categories are retried before they fail
    # each read of the E status is audited, with its evidence
    reads = store.audit_records(action="status_read", claim_id="CLM-2002")
    assert len(reads) == 2 and {(r["result"], r["rule_id"]) for r in reads} == {("E1", "PORTAL-PAYER-ERROR")}
    assert all(r["evidence_sha256"] for r in reads)
    assert Path(rows["CLM-2002"]["evidence_file"]).name.startswith("acme_CLM-2002_fault_")

    assert rows["CLM-2003"]["rule_id"] == "PORTAL-MISMATCH" and "member id" in rows["CLM-2003"]["reason"]
    assert "A9999" not in rows["CLM-2003"]["reason"]

    denials = [rows[c] for c in ("CLM-2004", "CLM-2005", "CLM-2006")]
    assert all(r["queue"] == "Denials" and "CO-97" in r["reason"] for r in denials)
    senior = [r for r in denials if r["review_level"] == "Senior"]
    assert len(senior) == 1 and "repeat denial pattern (CO-97 on 3 acme claims" in senior[0]["reason"]
    # The next run starts from the store's Denials rows (contractual CO-45 is not a denial reason).
    history = DenialHistory.load(store, bot="payer_portal", days=90, ignore=["CO-45"])
    assert history.add("acme", ["CO-97", "CO-45"], "acme:CLM-2999") == {"CO-97": 4}

    assert state["CLM-2007"] == "done" and "CLM-2007" not in rows
    assert rows["CLM-2008"]["queue"] == "Payment Variances" and "short by $20.00" in rows["CLM-2008"]["reason"]
    assert rows["CLM-2201"]["rule_id"] == "PORTAL-NO-PROFILE" and "config/payers/zeta.toml" in rows["CLM-2201"]["reason"]
    assert state["CLM-2001"] == state["CLM-2101"] == "done"
    final = {r["claim_id"]: r["final"] for r in store.claim_rows()}
    assert final["CLM-2001"] and final["CLM-2004"] and not final["CLM-2101"] and not final["CLM-2002"]


def test_credentials_totp_secret_and_phi_never_reach_the_logs_even_when_lookups_fail(
        settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, config_dir: Path) -> None:
    settings = set_retry(settings, attempts=2, max_attempts=1)
    load(store, tmp_path)
    with MockPortals(data=data(acme_password=CANARY_PASSWORD), faults="error_rate=0.3,seed=5") as portals:
        robot_env(monkeypatch, portals.url, acme_password=CANARY_PASSWORD)
        run(settings, store)
        portals.set_faults("")
        portals.reset()
        monkeypatch.setenv("BOTS_PAYER_ACME_PASSWORD", CANARY_PASSWORD + "-wrong")  # a refused sign-in, logged
        with store.begin() as conn:
            store.reopen("payer_portal", ["acme:CLM-2001", "beacon:CLM-2101"], conn)
        bot = create_bot(settings)
        refused = run_bot(bot, settings, store, only_refs=bot.references_for_claims(store, {"CLM-2001", "CLM-2101"}))
        assert refused.status == "failed" and CANARY_PASSWORD not in refused.message
    text = log_text(settings)
    assert "retrying" in text or "item_failed" in text  # the faults did produce error lines
    assert "site_login_refused" in text
    for secret in (CANARY_NAME, CANARY_MEMBER, CANARY_DOB, CANARY_PASSWORD, BEACON_SECRET, "beacon-robot-pass"):
        assert secret not in text, secret
