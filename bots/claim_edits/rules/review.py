"""Senior review thresholds: high-dollar claims and codes a payer has been denying."""

from __future__ import annotations

from pydantic import Field

from bots.claim_edits.reference import ReferenceData
from bots.claim_edits.rules.base import (
    ClaimView, Escalation, Evaluation, Finding, RuleParams, lines_text, money, rule, single,
)


class HighDollarParams(RuleParams):
    amount: float = Field(gt=0)
    # true: a high-dollar claim waits for senior review even when every other rule passed.
    hold_clean_claims: bool = True


@rule("REVIEW-HIGH-DOLLAR", HighDollarParams)
def high_dollar(view: ClaimView, p: HighDollarParams, _ref: ReferenceData) -> Evaluation:
    total = view.claim.total_charge
    if total < p.amount:
        return Evaluation(detail={"total": total})
    why = f"claim total {money(total)} is at or above the {money(p.amount)} high-dollar threshold"
    findings = []
    if p.hold_clean_claims:
        findings.append(Finding(
            reason=(f"Senior review: the {why}. Check codes, units, modifiers and documentation on every line "
                    f"before the claim is submitted; resolve this row when it is ready."),
            detail="high-dollar", evidence=f"total charge {money(total)}; threshold {money(p.amount)}"))
    return Evaluation(findings, detail={"total": total, "threshold": p.amount}, escalation=Escalation(why))


class DenialPatternParams(RuleParams):
    min_denials: int = Field(3, ge=1)
    days: int = Field(90, ge=1)
    hold_clean_claims: bool = True


@rule("REVIEW-DENIAL-PATTERN", DenialPatternParams)
def denial_pattern(view: ClaimView, p: DenialPatternParams, ref: ReferenceData) -> Evaluation:
    counts = ref.denial_counts
    if not counts:
        return Evaluation()
    payer = view.claim.payer_id
    hits: dict[str, list[int]] = {}
    for ln in view.lines:
        n = counts.get((payer, ln.procedure_code))
        if n is not None and n >= p.min_denials:
            hits.setdefault(ln.procedure_code, []).append(ln.line_no)
    if not hits:
        return Evaluation()
    findings = []
    if p.hold_clean_claims:
        for code, nos in hits.items():
            n = counts[(payer, code)]
            findings.append(Finding(
                reason=(f"Senior review: payer {payer} denied {code} on {n} claims in the last {p.days} "
                        f"days (threshold {p.min_denials}). Before submitting {lines_text(nos)}, compare it with "
                        f"the recent denials of {code} (Denials sheet: CARC codes) and fix what they point to "
                        f"(modifier, diagnosis, authorization, documentation)."),
                detail=code, line_no=single(nos),
                evidence=f"{n} claims of payer {payer} with {code} denied (X12 F2) in the last {p.days} days",
                codes=(code,)))
    codes = frozenset(hits)
    return Evaluation(findings, view.line_nos, {"denied_codes": {c: counts[(payer, c)] for c in sorted(codes)}},
                      Escalation(f"payer {payer} often denies {', '.join(sorted(codes))}", codes))
