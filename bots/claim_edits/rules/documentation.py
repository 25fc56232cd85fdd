"""Documentation rules: a signed note, dated the day of service, with time for timed codes; prior auth."""

from __future__ import annotations

from bots.claim_edits.reference import ReferenceData
from bots.claim_edits.rules.base import ClaimView, Codes, Evaluation, Finding, RuleParams, lines_text, rule, single
from bots.core.claims import ServiceLine


@rule("DOC-NOTE-PRESENT")
def note_present(view: ClaimView, _p: RuleParams, _ref: ReferenceData) -> Evaluation:
    missing = [ln for ln in view.lines if not ln.note_id]
    if not missing:
        return Evaluation(checked=view.line_nos)
    nos = [ln.line_no for ln in missing]
    codes = tuple(ln.procedure_code for ln in missing)
    return Evaluation([Finding(
        reason=(f"No clinical note is linked to {lines_text(nos)} ({', '.join(codes)}). Request the visit note "
                f"for {missing[0].date_of_service or view.claim.date_of_service} from the provider, enter its "
                f"note id on the worklist, and reload the claim."),
        detail="lines=" + ",".join(map(str, nos)), line_no=single(nos),
        evidence=f"note_id empty on {lines_text(nos)}", codes=codes)], view.line_nos)


@rule("DOC-NOTE-SIGNED")
def note_signed(view: ClaimView, _p: RuleParams, _ref: ReferenceData) -> Evaluation:
    unsigned: dict[str, list[ServiceLine]] = {}
    checked = []
    for ln in view.lines:
        if ln.note_id:
            checked.append(ln.line_no)
            if not ln.note_signed:
                unsigned.setdefault(ln.note_id, []).append(ln)
    findings = []
    for note_id, lines in unsigned.items():
        nos = [ln.line_no for ln in lines]
        findings.append(Finding(
            reason=(f"Note {note_id} ({lines_text(nos)}) is not signed. Ask the rendering provider "
                    f"(NPI {view.claim.provider_npi or 'missing'}) to sign it in the EHR; an unsigned note does "
                    f"not support the service. Mark the note signed on the worklist once done and reload."),
            detail=f"note={note_id}", line_no=single(nos), evidence=f"note {note_id}: note_signed=N",
            codes=tuple(ln.procedure_code for ln in lines)))
    return Evaluation(findings, checked)


@rule("DOC-NOTE-DATE")
def note_date_matches(view: ClaimView, _p: RuleParams, _ref: ReferenceData) -> Evaluation:
    wrong: dict[tuple[str, str, str], list[ServiceLine]] = {}
    checked = []
    claim_dos = view.claim.date_of_service
    for ln in view.lines:
        if ln.note_id:
            checked.append(ln.line_no)
            dos = ln.date_of_service or claim_dos
            if ln.note_date != dos:
                wrong.setdefault((ln.note_id, ln.note_date, dos), []).append(ln)
    findings = []
    for (note_id, note_date, dos), lines in wrong.items():
        nos = [ln.line_no for ln in lines]
        what = f"is dated {note_date}" if note_date else "has no note date"
        findings.append(Finding(
            reason=(f"Note {note_id} {what} but {lines_text(nos)} has date of service {dos}. Check that the "
                    f"right note is linked and the date of service is correct; fix the worklist and reload, or "
                    f"ask the provider for the note written on {dos}."),
            detail=f"note={note_id}|note_date={note_date}|dos={dos}", line_no=single(nos),
            evidence=f"note {note_id} date {note_date or '(empty)'}; DOS {dos}",
            codes=tuple(ln.procedure_code for ln in lines)))
    return Evaluation(findings, checked)


class TimeParams(RuleParams):
    time_based_codes: Codes


@rule("DOC-TIME", TimeParams)
def time_documented(view: ClaimView, p: TimeParams, _ref: ReferenceData) -> Evaluation:
    findings, checked = [], []
    timed = p.time_based_codes
    for ln in view.lines:
        if ln.procedure_code in timed:
            checked.append(ln.line_no)
            if not ln.time_minutes or ln.time_minutes <= 0:
                findings.append(Finding(
                    reason=(f"Line {ln.line_no} bills time-based code {ln.procedure_code} ({ln.units} unit(s)) but "
                            f"no minutes are documented. Ask the provider to document the time spent in note "
                            f"{ln.note_id or '(no note linked)'}; payers pay time-based codes only on documented "
                            f"time. Enter the minutes on the worklist and reload."),
                    detail=ln.procedure_code, line_no=ln.line_no, evidence="time_minutes empty",
                    codes=(ln.procedure_code,)))
    return Evaluation(findings, checked)


@rule("DOC-PRIOR-AUTH")
def prior_auth_present(view: ClaimView, _p: RuleParams, ref: ReferenceData) -> Evaluation:
    claim = view.claim
    needs = ref.prior_auth_codes.get(claim.payer_id)
    if not needs:
        return Evaluation()
    lines = [ln for ln in view.lines if ln.procedure_code in needs]
    checked = [ln.line_no for ln in lines]
    if not lines or claim.prior_auth_number:
        return Evaluation(checked=checked)
    codes = tuple(dict.fromkeys(ln.procedure_code for ln in lines))
    return Evaluation([Finding(
        reason=(f"Payer {claim.payer_id} requires prior authorization for {', '.join(codes)} "
                f"({lines_text(checked)}) and the claim has no prior authorization number. Find the "
                f"authorization (payer portal or referral record) and enter it as prior_auth_number, or ask the "
                f"front desk to request a retro-authorization; then reload the claim."),
        detail="codes=" + ",".join(codes), line_no=single(checked),
        evidence=f"payer profile {claim.payer_id}: prior_auth_codes includes {', '.join(codes)}; "
                 f"prior_auth_number empty", codes=codes)], checked)


