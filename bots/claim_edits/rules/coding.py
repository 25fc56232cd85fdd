"""Coding rules: diagnosis codes and pointers, the provider NPI, modifier 25 on a same-day E/M."""

from __future__ import annotations

from pydantic import Field

from bots.claim_edits.codes import CodeSet, icd10cm_wellformed, npi_valid
from bots.claim_edits.reference import ReferenceData
from bots.claim_edits.rules.base import (
    ClaimView, Codes, Evaluation, Finding, Modifiers, RuleParams, rule,
)


class IcdParams(RuleParams):
    # The 837P claim carries at most 12 diagnosis codes (HI segment).
    max_codes: int = Field(12, ge=1, le=12)


@rule("CODE-ICD10", IcdParams)
def icd10_codes(view: ClaimView, p: IcdParams, _ref: ReferenceData) -> Evaluation:
    codes = view.claim.diagnosis_codes
    if not codes:
        return Evaluation([Finding(
            reason=("The claim has no ICD-10-CM diagnosis code. Query the provider for the diagnosis that supports "
                    "the services (from the visit note), add it to diagnosis_codes and reload."),
            detail="none", evidence="diagnosis_codes empty")])
    findings = []
    bad = [c for c in codes if not icd10cm_wellformed(c)]
    if bad:
        findings.append(Finding(
            reason=(f"Diagnosis code(s) {', '.join(bad)} are not well-formed ICD-10-CM codes (a letter, a digit, "
                    f"a digit or letter, then up to 4 characters after the dot, e.g. E11.9). Check the code in the "
                    f"ICD-10-CM code book or the note, correct it and reload."),
            detail="bad=" + ",".join(bad), evidence=f"diagnosis_codes: {';'.join(codes)}"))
    if len(codes) > p.max_codes:
        findings.append(Finding(
            reason=(f"The claim lists {len(codes)} diagnosis codes; a professional claim carries at most "
                    f"{p.max_codes}. Keep the codes the service lines point to and move the rest to the note."),
            detail=f"count={len(codes)}", evidence=f"diagnosis_codes: {';'.join(codes)}"))
    return Evaluation(findings)


class PointerParams(RuleParams):
    # An 837P service line points to at most 4 diagnoses (SV107).
    max_pointers: int = Field(4, ge=1, le=12)


@rule("CODE-DX-POINTER", PointerParams)
def diagnosis_pointers(view: ClaimView, p: PointerParams, _ref: ReferenceData) -> Evaluation:
    claim = view.claim
    n_dx = len(claim.diagnosis_codes)
    findings = []
    for ln in view.lines:
        ptrs = ln.diagnosis_pointers
        if ptrs and len(ptrs) <= p.max_pointers and all(0 < x <= n_dx for x in ptrs) and len(set(ptrs)) == len(ptrs):
            continue
        if not ptrs:
            problem = "has no diagnosis pointer"
        elif any(x < 1 or x > n_dx for x in ptrs):
            out = [str(x) for x in ptrs if x < 1 or x > n_dx]
            problem = f"points to diagnosis {', '.join(out)} but the claim has {n_dx} diagnosis code(s)"
        elif len(set(ptrs)) != len(ptrs):
            problem = "repeats a diagnosis pointer"
        else:
            problem = f"has {len(ptrs)} diagnosis pointers; at most {p.max_pointers} are allowed"
        findings.append(Finding(
            reason=(f"Line {ln.line_no} ({ln.procedure_code}) {problem}. Point the line to the diagnosis "
                    f"(1 = first code in diagnosis_codes) that the note gives as the reason for this service, "
                    f"fix diagnosis_pointers and reload."),
            detail=f"{ln.procedure_code}|ptr={';'.join(map(str, ptrs))}", line_no=ln.line_no,
            evidence=f"diagnosis_pointers {';'.join(map(str, ptrs)) or '(empty)'}; "
                     f"diagnosis_codes {';'.join(claim.diagnosis_codes) or '(empty)'}",
            codes=(ln.procedure_code,)))
    return Evaluation(findings, view.line_nos)


@rule("CODE-NPI")
def provider_npi(view: ClaimView, _p: RuleParams, _ref: ReferenceData) -> Evaluation:
    npi = view.claim.provider_npi
    if npi and npi_valid(npi):
        return Evaluation()
    what = "is missing" if not npi else f"{npi} fails the NPI check digit (Luhn with prefix 80840), most likely a typo"
    return Evaluation([Finding(
        reason=(f"The rendering provider NPI {what}. Look the provider up in the NPPES NPI registry "
                f"(npiregistry.cms.hhs.gov), correct provider_npi on the worklist and reload."),
        detail=f"npi={npi}", evidence=f"provider_npi {npi or '(empty)'}")])


class Mod25Params(RuleParams):
    em_codes: Codes
    procedure_codes: Codes
    exclude_codes: Codes = CodeSet([])
    # 57 (decision for surgery) takes the place of 25 when the procedure is a major one.
    accepted_modifiers: Modifiers = frozenset({"25", "57"})


@rule("CODE-MOD25", Mod25Params)
def modifier_25(view: ClaimView, p: Mod25Params, _ref: ReferenceData) -> Evaluation:
    em_codes, proc_codes, excluded, accepted = p.em_codes, p.procedure_codes, p.exclude_codes, p.accepted_modifiers
    if not any(ln.procedure_code in em_codes for ln in view.lines):
        return Evaluation()
    findings: list[Finding] = []
    checked: list[int] = []
    for dos, lines in view.by_dos.items():
        ems = [ln for ln in lines if ln.procedure_code in em_codes]
        if not ems:
            continue
        checked.extend(ln.line_no for ln in ems)
        procs = [ln for ln in lines if ln.procedure_code in proc_codes and ln.procedure_code not in excluded
                 and ln.procedure_code not in em_codes]
        if not procs:
            continue
        for em in ems:
            if accepted.intersection(em.modifiers):
                continue
            proc_text = ", ".join(f"{ln.procedure_code} (line {ln.line_no})" for ln in procs)
            findings.append(Finding(
                reason=(f"Line {em.line_no} ({em.procedure_code}) is an E/M service billed on {dos}, the same day "
                        f"as procedure {proc_text}, without modifier 25. If the note documents a significant, "
                        f"separately identifiable E/M beyond the procedure's usual pre- and post-procedure work, "
                        f"add modifier 25 to line {em.line_no}; otherwise remove the E/M line."),
                detail=f"{em.procedure_code}|{dos}", line_no=em.line_no,
                evidence=f"line {em.line_no} modifiers: {';'.join(em.modifiers) or '(none)'}; procedures {proc_text}",
                codes=(em.procedure_code, *(ln.procedure_code for ln in procs))))
    return Evaluation(findings, checked)


