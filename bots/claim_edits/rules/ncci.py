"""CMS NCCI edits: procedure-to-procedure pairs and medically unlikely edits (MUE)."""

from __future__ import annotations

from collections.abc import Iterable

from bots.claim_edits.codes import EM_SECTION, NCCI_ANATOMIC_MODIFIERS, NCCI_BYPASS_MODIFIERS
from bots.claim_edits.reference import MueLimit, PtpEdit, ReferenceData
from bots.claim_edits.rules.base import (
    ClaimView, Evaluation, Finding, Modifiers, RuleParams, lines_text, rule, single,
)
from bots.core.claims import ServiceLine


class PtpParams(RuleParams):
    bypass_modifiers: Modifiers = frozenset(NCCI_BYPASS_MODIFIERS)
    anatomic_modifiers: Modifiers = frozenset(NCCI_ANATOMIC_MODIFIERS)


def _in_force(edits: Iterable[PtpEdit], dos: str) -> PtpEdit | None:
    """The edit in force on ``dos``; if CMS lists overlapping ones, the strictest indicator wins."""
    best = None
    for e in edits:
        if e.applies_on(dos) and (best is None or e.modifier_indicator < best.modifier_indicator):
            best = e
    return best


def _bypass(l1: ServiceLine, l2: ServiceLine, p: PtpParams) -> list[str]:
    """The NCCI-associated modifiers that bypass the pair: any of 59/X{EPSU}/25/… on either line, or
    different anatomic modifiers on the two lines (different sites)."""
    used = [f"{m} on line {ln.line_no}" for ln in (l2, l1) for m in ln.modifiers if m in p.bypass_modifiers]
    a1 = p.anatomic_modifiers.intersection(l1.modifiers)
    a2 = p.anatomic_modifiers.intersection(l2.modifiers)
    if a1 and a2 and a1 != a2:
        used.append(f"{'/'.join(sorted(a2))} on line {l2.line_no} vs {'/'.join(sorted(a1))} on line {l1.line_no}")
    return used


@rule("NCCI-PTP", PtpParams)
def ncci_ptp(view: ClaimView, p: PtpParams, ref: ReferenceData) -> Evaluation:
    table = ref.ptp
    findings: list[Finding] = []
    pairs: list[str] = []
    for dos, lines in view.by_dos.items():
        if len(lines) < 2:
            continue
        by_code: dict[str, list[ServiceLine]] = {}
        for ln in lines:
            by_code.setdefault(ln.procedure_code, []).append(ln)
        if len(by_code) < 2:
            continue
        edits = table.edits_among(by_code)
        for c1, lines1 in by_code.items():
            col2 = edits[c1]
            if not col2:
                continue
            for c2, lines2 in by_code.items():
                if c2 == c1 or c2 not in col2:
                    continue
                edit = _in_force(col2[c2], dos)
                if edit is None or edit.modifier_indicator == "9":  # 9: not (or no longer) an edit
                    continue
                pairs.append(f"{c1}/{c2}:{edit.modifier_indicator}")
                l1 = lines1[0]
                # With the code billed on several lines, judge the line that is not bypassed, if any.
                l2 = next((ln for ln in lines2 if not _bypass(l1, ln, p)), lines2[0])
                findings.append(_ptp_finding(edit, dos, l1, l2, _bypass(l1, l2, p), table.label))
    if findings:
        return Evaluation(findings, view.line_nos, {"table": table.label, "pairs": pairs})
    return Evaluation(detail=table.detail)


def _ptp_finding(edit: PtpEdit, dos: str, l1: ServiceLine, l2: ServiceLine, used: list[str], label: str) -> Finding:
    c1, c2 = edit.column1, edit.column2
    pair = (f"Line {l2.line_no} ({c2}) and line {l1.line_no} ({c1}), both on {dos}, are an NCCI "
            f"procedure-to-procedure pair: column 2 code {c2} is bundled into column 1 code {c1}"
            + (f" ({edit.rationale})" if edit.rationale else "") + ".")
    evidence = (f"NCCI PTP {label}: {c1}/{c2} {edit.dates}, modifier indicator {edit.modifier_indicator}; "
                f"modifiers line {l1.line_no}: {';'.join(l1.modifiers) or '(none)'}, "
                f"line {l2.line_no}: {';'.join(l2.modifiers) or '(none)'}")
    detail = f"{c1}|{c2}|{dos}"
    if edit.modifier_indicator == "0":
        return Finding(
            reason=(pair + f" Modifier indicator 0: no modifier can bypass this edit. Remove line {l2.line_no} "
                           f"({c2}) unless the note shows the coding itself is wrong; do not add 59 or X "
                           f"modifiers."),
            detail=detail, line_no=l2.line_no, evidence=evidence, codes=(c1, c2))
    if not used:
        if c2 in EM_SECTION:
            todo = (f"If the note documents a significant, separately identifiable E/M service, add modifier 25 "
                    f"to line {l2.line_no}; otherwise remove line {l2.line_no} ({c2}).")
        else:
            todo = (f"If the note documents a separate and distinct service (different session, site, organ or "
                    f"structure), add 59 or XE/XS/XP/XU, or different anatomic modifiers (LT/RT, F1-F9, T1-T9 …) "
                    f"on the two lines; otherwise remove line {l2.line_no} ({c2}).")
        return Finding(reason=f"{pair} Modifier indicator 1 and no NCCI-associated modifier bypasses it. {todo}",
                       detail=detail, line_no=l2.line_no, evidence=evidence, codes=(c1, c2))
    return Finding(
        reason=(pair + f" Modifier indicator 1 and the edit is bypassed with {', '.join(used)}. Senior review: "
                       f"confirm the note documents a separate and distinct service that supports the modifier; "
                       f"if it does not, remove the modifier and line {l2.line_no} ({c2})."),
        detail=detail, line_no=l2.line_no, evidence=evidence, review_level="Senior", codes=(c1, c2))


_MAI_TEXT = {1: "per line (MAI 1)", 2: "per date of service (MAI 2, policy)",
             3: "per date of service (MAI 3, clinical)"}


@rule("MUE")
def mue(view: ClaimView, _p: RuleParams, ref: ReferenceData) -> Evaluation:
    table = ref.mue
    limits = table.limits
    claim_dos = view.claim.date_of_service
    findings: list[Finding] = []
    per_dos: dict[tuple[str, str], list[ServiceLine]] = {}
    for ln in view.lines:
        lim = limits.get(ln.procedure_code)
        if lim is None:
            continue
        if lim.mai == 1:
            if ln.units > lim.value:
                findings.append(_mue_finding(lim, [ln], ln.units, ln.date_of_service or claim_dos, table.label))
        else:
            per_dos.setdefault((ln.procedure_code, ln.date_of_service or claim_dos), []).append(ln)
    for (code, dos), lines in per_dos.items():
        units = lines[0].units if len(lines) == 1 else sum(ln.units for ln in lines)
        if units > limits[code].value:
            findings.append(_mue_finding(limits[code], lines, units, dos, table.label))
    if findings:
        return Evaluation(findings, view.line_nos, table.detail)
    return Evaluation(detail=table.detail)


def _mue_finding(lim: MueLimit, lines: list[ServiceLine], units: int, dos: str, label: str) -> Finding:
    nos = [ln.line_no for ln in lines]
    head = (f"{lines_text(nos).capitalize()} bill{'s' if len(nos) == 1 else ''} {units} unit(s) of {lim.code} on "
            f"{dos}; the CMS MUE allows {lim.value} {_MAI_TEXT[lim.mai]}.")
    if lim.mai == 1:
        todo = (f" Check the units against the note. If the service was done on separate sites, bill each site "
                f"on its own line with an anatomic modifier (LT/RT …) or 59/XS; otherwise reduce to {lim.value}.")
    elif lim.mai == 2:
        todo = (f" Units above the MUE are never paid on this date (CMS policy, not appealable): reduce the "
                f"units to {lim.value}.")
    else:
        todo = (f" Senior review: units above the MUE are paid only on appeal with records showing medical "
                f"necessity. Reduce to {lim.value}, or confirm the note supports {units} and flag the claim "
                f"for appeal with documentation.")
    return Finding(
        reason=head + todo, detail=f"{lim.code}|{dos}", line_no=single(nos),
        evidence=f"MUE {label}: {lim.code} = {lim.value}, MAI {lim.mai}"
                 + (f" ({lim.rationale})" if lim.rationale else "") + f"; units billed {units}",
        review_level="Senior" if lim.mai == 3 else None, codes=(lim.code,))


