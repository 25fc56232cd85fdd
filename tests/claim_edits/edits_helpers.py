"""Builders for claim_edits tests: claims, worklist rows, CMS-format edit tables, rule evaluation."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bots.claim_edits.config import ActiveRule, load_rules
from bots.claim_edits.importer import active_versions, import_tables
from bots.claim_edits.reference import ReferenceData
from bots.claim_edits.rules import ClaimView, Evaluation
from bots.core.claims import Claim, ServiceLine
from bots.core.store import Store
from bots.core.worklist import COLUMNS

REPO = Path(__file__).resolve().parents[2]
DOS = "2026-10-14"
VALID_NPI = "1234567893"

PTP_HEADER = ("Column 1\tColumn 2\t*=in existence prior to 1996\tEffective Date\tDeletion Date *=no data\t"
              "Modifier 0=not allowed 1=allowed 9=not applicable\tPTP Edit Rationale")
MUE_HEADER = "HCPCS/CPT Code\tPractitioner Services MUE Values\tMUE Adjudication Indicator\tMUE Rationale"
MAI_TEXT = {1: "1 Line Edit", 2: "2 Date of Service Edit: Policy", 3: "3 Date of Service Edit: Clinical"}

# A small table for rule tests: (column 1, column 2, effective, deletion, modifier indicator)
PTP_ROWS = [
    ("20610", "99214", "20100101", "*", "1"),
    ("20611", "20610", "20150101", "*", "0"),
    ("97110", "97140", "20210101", "*", "1"),
    ("97530", "97140", "20200101", "20200401", "1"),
    ("93000", "93010", "20100101", "*", "9"),
    ("11042", "97597", "20270101", "*", "1"),
]
# (code, MUE value, MAI)
MUE_ROWS = [("20610", 1, 1), ("36415", 1, 2), ("97110", 4, 3), ("99214", 1, 2)]


def line(line_no: int = 1, code: str = "99213", **kw: Any) -> ServiceLine:
    base: dict[str, Any] = dict(units=1, charge=100.0, modifiers=[], diagnosis_pointers=[1], date_of_service=DOS,
                                note_id=f"N-{line_no}", note_signed=True, note_date=DOS, time_minutes=None)
    base.update(kw)
    return ServiceLine(line_no=line_no, procedure_code=code, **base)


def claim(*lines: ServiceLine, **kw: Any) -> Claim:
    base: dict[str, Any] = dict(claim_id="CLM-1", payer_id="testpayer", member_id="M1", patient_name="DOE, JANE",
                                patient_dob="1970-01-01", date_of_service=DOS, provider_npi=VALID_NPI,
                                diagnosis_codes=["E11.9", "I10"], prior_auth_number="")
    base.update(kw)
    return Claim(lines=list(lines) or [line()], **base)


def write_ptp(path: Path, rows: Iterable[tuple[str, ...]], *, preamble: bool = True) -> Path:
    with path.open("w", newline="") as fh:
        if preamble:
            fh.write("CPT codes only; test table in the CMS PTP layout.\r\n\r\n")
        fh.write(PTP_HEADER + "\r\n")
        for r in rows:
            c1, c2, eff, dele, mi = r[:5]
            rationale = r[5] if len(r) > 5 else "Standards of medical / surgical practice"
            fh.write(f"{c1}\t{c2}\t\t{eff}\t{dele}\t{mi}\t{rationale}\r\n")
    return path


def write_mue(path: Path, rows: Iterable[tuple[str, int, int]]) -> Path:
    with path.open("w", newline="") as fh:
        fh.write("Test table in the CMS MUE layout.\r\n\r\n" + MUE_HEADER + "\r\n")
        for code, value, mai in rows:
            fh.write(f"{code}\t{value}\t{MAI_TEXT[mai]}\tClinical: Data\r\n")
    return path


def load_reference(store: Store, folder: Path, *, ptp: Iterable[tuple[str, ...]] = PTP_ROWS,
                   mue: Iterable[tuple[str, int, int]] = MUE_ROWS, payers_dir: Path | None = None,
                   denials: tuple[int, int] | None = None) -> ReferenceData:
    import_tables(store, [write_ptp(folder / "ptp.txt", ptp)])
    import_tables(store, [write_mue(folder / "mue.txt", mue)])
    return ReferenceData.load(store, active_versions(store), payers_dir or folder / "no-payers", denials)


def repo_rule(rule_id: str, **params: Any) -> ActiveRule:
    """The rule as config/rules/claim_edits.toml configures it, with ``params`` overridden."""
    _config, rules = load_rules(REPO / "config" / "rules" / "claim_edits.toml")
    rule = next(r for r in rules if r.rule_id == rule_id)
    if params:
        rule = replace(rule, params=rule.params.model_copy(update=params))
    return rule


def evaluate(rule_id: str, c: Claim, ref: ReferenceData, **params: Any) -> Evaluation:
    r = repo_rule(rule_id, **params)
    return r.fn(ClaimView(c), r.params, ref)


GOOD_ROW = {
    "claim_id": "CLM-1", "payer_id": "testpayer", "member_id": "A123456789", "patient_name": "DOE, JANE",
    "patient_dob": "1970-03-02", "date_of_service": DOS, "provider_npi": VALID_NPI, "line_no": "1",
    "procedure_code": "99213", "modifiers": "", "units": "1", "charge": "145.00", "diagnosis_codes": "E11.9;I10",
    "diagnosis_pointers": "1;2", "prior_auth_number": "", "note_id": "N-1", "note_signed": "Y",
    "note_date": DOS, "time_minutes": "", "submitted_date": "", "expected_amount": "",
}


def write_worklist(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path
