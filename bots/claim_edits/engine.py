"""Run every enabled rule on a claim and turn findings into exception rows.

Senior review: a finding is Senior when its rule says so (a bypassed NCCI
edit, an MUE clinical edit) or when a review-threshold rule escalates the
claim: a high-dollar claim makes every finding Senior, a payer's repeated
denials of a code make the findings on that code Senior. Escalated rows are
also High priority, so they surface first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bots.claim_edits.config import ActiveRule
from bots.claim_edits.reference import ReferenceData
from bots.claim_edits.rules import ClaimView, Evaluation
from bots.core.claims import Claim
from bots.core.errors import ExceptionRecord

__all__ = ["RuleEngine", "Verdict", "audit_detail"]


@dataclass(slots=True)
class Verdict:
    results: list[tuple[ActiveRule, Evaluation]]
    exceptions: list[ExceptionRecord]


def audit_detail(ev: Evaluation) -> dict[str, Any] | None:
    """What the audit record keeps beside the rule version and the claim digest.

    A pass covers every line of the claim the digest pins, so it keeps only the
    reference facts it used (the edit-table version, the claim total). A fail
    keeps its per-line results: the lines the rule checked, the lines that
    failed and each finding's key.
    """
    if not ev.findings:
        return ev.detail
    detail: dict[str, Any] = {"lines": ev.checked,
                              "failed_lines": [f.line_no for f in ev.findings if f.line_no is not None],
                              "findings": [f.detail for f in ev.findings]}
    if ev.detail:
        detail.update(ev.detail)
    return detail


class RuleEngine:
    def __init__(self, rules: Sequence[ActiveRule], reference: ReferenceData):
        self.rules = list(rules)
        self.reference = reference

    def evaluate(self, claim: Claim) -> Verdict:
        ref = self.reference
        view = ClaimView(claim)
        results = [(r, r.fn(view, r.params, ref)) for r in self.rules]
        escalations = [(r, ev.escalation) for r, ev in results if ev.escalation is not None]
        records = []
        for r, ev in results:
            for f in ev.findings:
                level = f.review_level or r.review_level
                priority = r.priority
                reason = f.reason
                notes = [esc.reason for er, esc in escalations
                         if er is not r and (esc.codes is None or not esc.codes.isdisjoint(f.codes))]
                if notes:
                    level, priority = "Senior", "High"
                    reason = f"{reason} Senior review: {'; '.join(notes)}."
                records.append(ExceptionRecord(
                    queue=r.queue, rule_id=r.rule_id, rule_version=r.version, reason=reason, line_no=f.line_no,
                    detail=f.detail, evidence=f.evidence, review_level=level, priority=priority))
        return Verdict(results, records)
