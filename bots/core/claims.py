"""Claims and service lines as the bots see them (their storage is ``bots.core.store.claims``).

The worklist loader validates rows at the edge (pydantic); inside, a claim is a
plain dataclass the bots read without touching SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["Claim", "ServiceLine", "claim_key"]


def claim_key(payer_id: str, claim_id: str) -> str:
    return f"{payer_id}:{claim_id}"


@dataclass
class ServiceLine:
    line_no: int
    procedure_code: str
    units: int
    charge: float
    modifiers: list[str] = field(default_factory=list)
    diagnosis_pointers: list[int] = field(default_factory=list)
    date_of_service: str = ""
    note_id: str = ""
    note_signed: bool = False
    note_date: str = ""
    time_minutes: int | None = None
    source_row: int | None = None


@dataclass
class Claim:
    claim_id: str
    payer_id: str
    member_id: str
    patient_name: str
    patient_dob: str
    date_of_service: str
    provider_npi: str
    diagnosis_codes: list[str]
    lines: list[ServiceLine]
    prior_auth_number: str = ""
    submitted_date: str = ""
    expected_amount: float | None = None
    source_file: str = ""
    source_row: int | None = None
    status_category: str | None = None
    status_word: str | None = None
    status_checked_at: str | None = None
    final: bool = False

    @property
    def key(self) -> str:
        return claim_key(self.payer_id, self.claim_id)

    @property
    def total_charge(self) -> float:
        return round(sum(line.charge for line in self.lines), 2)

    def content(self) -> dict[str, Any]:
        """What a digest covers: the claim as billed, not what the bots learned about it.

        The same dict ``dataclasses.asdict`` gave minus the bots' fields, built directly: asdict
        deep-copies field by field and was the loader's largest cost on big worklists."""
        data = {name: list(v) if isinstance(v := getattr(self, name), list) else v for name in _CLAIM_CONTENT}
        data["lines"] = [{name: list(v) if isinstance(v := getattr(ln, name), list) else v for name in _LINE_CONTENT}
                         for ln in self.lines]
        return data

    def phi(self) -> tuple[str, ...]:
        return (self.patient_name, self.member_id, self.patient_dob)

    def summary(self) -> dict[str, Any]:
        """The fields an exception row shows about its claim."""
        return {"claim_id": self.claim_id, "payer_id": self.payer_id, "patient_name": self.patient_name,
                "date_of_service": self.date_of_service, "total_charge": self.total_charge}


_CLAIM_CONTENT = tuple(f.name for f in fields(Claim) if f.name not in (
    "lines", "source_file", "source_row", "status_category", "status_word", "status_checked_at", "final"))
_LINE_CONTENT = tuple(f.name for f in fields(ServiceLine) if f.name != "source_row")
