"""PHI and secrets never reach a log file."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import structlog

from bots.core.errors import BusinessException, ExceptionRecord, SystemFault
from bots.core.logging import get_logger, register_secret, scrub_phi
from bots.core.runner import ItemContext, Outcome, RunContext, run_bot
from bots.core.settings import Settings
from bots.core.store import ClaimedItem, Store, WorkItemSpec
from bots.core.worklist import load_worklist
from canaries import CANARY_DOB, CANARY_MEMBER, CANARY_NAME, CANARY_PASSWORD, log_text
from core.test_worklist import GOOD, write_csv  # tests/ is on sys.path; tests/core is not


class LeakyBot:
    """Tries every way a careless bot could leak PHI into a log."""

    name = "claim_edits"

    def enqueue(self, run: RunContext) -> int:
        return run.store.enqueue(self.name, [WorkItemSpec(reference="acme:CLM-C1", claim_key="acme:CLM-C1"),
                                             WorkItemSpec(reference="acme:CLM-C2", claim_key="acme:CLM-C2")])

    def session(self, run: RunContext) -> Any:
        return contextlib.nullcontext()

    def process(self, item: ClaimedItem, ctx: ItemContext) -> Outcome:
        c = ctx.claim
        assert c is not None and c.patient_name == CANARY_NAME
        ctx.log.info("looking_up", patient_name=c.patient_name, member_id=c.member_id, dob=c.patient_dob,
                     password=CANARY_PASSWORD)
        ctx.log.info("free_text", note=f"found {c.patient_name} / {c.member_id} born {c.patient_dob}",
                     nested={"member": c.member_id, "list": [c.patient_name]})
        ctx.log.info("secret_in_text", note=f"typed {CANARY_PASSWORD} into the password box")
        if item.reference.endswith("C1"):
            raise SystemFault(f"page said: no record for {c.patient_name} ({c.member_id})")
        raise BusinessException(ExceptionRecord(queue="Denials", rule_id="X", reason=f"denied for {c.patient_name}"))

    def references_for_claims(self, store: Store, claim_ids: set[str]) -> list[str]:
        return []


def test_canary_phi_and_password_never_appear_in_any_log_file(tmp_path: Path, settings: Settings, store: Store) -> None:
    register_secret(CANARY_PASSWORD)
    canary = {**GOOD, "patient_name": CANARY_NAME, "member_id": CANARY_MEMBER, "patient_dob": CANARY_DOB}
    path = write_csv(tmp_path / "wl.csv", [{**canary, "claim_id": "CLM-C1"}, {**canary, "claim_id": "CLM-C2"},
                                           {**canary, "claim_id": "CLM-C3", "units": "zero"}])
    load_worklist(store, path)
    settings.config.retry.attempts = 2
    settings.config.retry.wait_initial = 0
    result = run_bot(LeakyBot(), settings, store, write_workbook=False)
    assert result.counts["exceptions"] == 1 and result.counts["retries"] == 1
    text = log_text(settings)
    assert "looking_up" in text and "free_text" in text, "the events themselves were logged"
    for canary_value in (CANARY_NAME, CANARY_MEMBER, CANARY_DOB, CANARY_PASSWORD):
        assert canary_value not in text, f"{canary_value!r} leaked into a log"
    assert "[redacted]" in text


def test_scrub_drops_phi_keys_and_keeps_the_rest() -> None:
    out = scrub_phi(None, "info", {"event": "x", "claim_id": "CLM-1", "patient_name": "DOE", "Member_ID": "A1",
                                   "nested": {"password": "p", "ok": 1}})
    assert out == {"event": "x", "claim_id": "CLM-1", "nested": {"password": "[redacted]", "ok": 1}}


def test_capture_logs_sees_key_value_events() -> None:
    with structlog.testing.capture_logs() as logs:
        get_logger("bots.test").info("claim_status_read", claim_id="CLM-1", category="F1")
    assert logs[0]["event"] == "claim_status_read" and logs[0]["category"] == "F1"
