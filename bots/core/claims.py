"""Claims and service lines as the bots see them, and their storage.

The worklist loader validates rows at the edge (pydantic); inside, a claim is a
plain dataclass the bots read without touching SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, select

from bots.core.store import Store

from bots.core.store import claims, service_lines, _chunks

__all__ = ["Claim", "ServiceLine", "claim_key", "claim_keys_for_ids", "load_claims", "save_claims"]


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
        """What a digest covers: the claim as billed, not what the bots learned about it."""
        data = asdict(self)
        for k in ("source_file", "source_row", "status_category", "status_word", "status_checked_at", "final"):
            data.pop(k)
        for line in data["lines"]:
            line.pop("source_row")
        return data

    def phi(self) -> tuple[str, ...]:
        return (self.patient_name, self.member_id, self.patient_dob)

    def summary(self) -> dict[str, Any]:
        """The fields an exception row shows about its claim."""
        return {"claim_id": self.claim_id, "payer_id": self.payer_id, "patient_name": self.patient_name,
                "date_of_service": self.date_of_service, "total_charge": self.total_charge}


def save_claims(conn: Connection, items: Sequence[tuple[Claim, str]], loaded_at: str) -> None:
    """Insert or replace claims (with their lines); ``items`` pairs a claim with its digest."""
    if not items:
        return
    keys = [c.key for c, _ in items]
    for chunk in _chunks(keys, 500):
        conn.execute(delete(service_lines).where(service_lines.c.claim_key.in_(chunk)))
        conn.execute(delete(claims).where(claims.c.claim_key.in_(chunk)))
    conn.execute(claims.insert(), [
        {
            "claim_key": c.key, "claim_id": c.claim_id, "payer_id": c.payer_id, "member_id": c.member_id,
            "patient_name": c.patient_name, "patient_dob": c.patient_dob,
            "date_of_service": c.date_of_service, "provider_npi": c.provider_npi,
            "diagnosis_codes": ";".join(c.diagnosis_codes), "prior_auth_number": c.prior_auth_number,
            "submitted_date": c.submitted_date or None, "expected_amount": c.expected_amount,
            "total_charge": c.total_charge, "digest": d, "source_file": c.source_file,
            "source_row": c.source_row, "loaded_at": loaded_at, "final": False,
        }
        for c, d in items
    ])
    conn.execute(service_lines.insert(), [
        {
            "claim_key": c.key, "line_no": ln.line_no, "date_of_service": ln.date_of_service,
            "procedure_code": ln.procedure_code, "modifiers": ";".join(ln.modifiers), "units": ln.units,
            "charge": ln.charge, "diagnosis_pointers": ";".join(str(p) for p in ln.diagnosis_pointers),
            "note_id": ln.note_id, "note_signed": "Y" if ln.note_signed else "N",
            "note_date": ln.note_date, "time_minutes": ln.time_minutes, "source_row": ln.source_row,
        }
        for c, _ in items for ln in c.lines
    ])


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(";") if v]


def load_claims(conn: Connection, keys: Iterable[str]) -> dict[str, Claim]:
    """Claims by key, with their lines in line order (two queries per 500 claims)."""
    out: dict[str, Claim] = {}
    keys = list(keys)
    for chunk in _chunks(keys, 500):
        lines: dict[str, list[ServiceLine]] = {}
        for r in conn.execute(select(service_lines).where(service_lines.c.claim_key.in_(chunk))
                              .order_by(service_lines.c.claim_key, service_lines.c.line_no)):
            lines.setdefault(r.claim_key, []).append(ServiceLine(
                line_no=r.line_no, procedure_code=r.procedure_code or "", units=r.units or 0,
                charge=r.charge or 0.0, modifiers=_split(r.modifiers),
                diagnosis_pointers=[int(p) for p in _split(r.diagnosis_pointers)],
                date_of_service=r.date_of_service or "", note_id=r.note_id or "",
                note_signed=r.note_signed == "Y", note_date=r.note_date or "",
                time_minutes=r.time_minutes, source_row=r.source_row))
        for r in conn.execute(select(claims).where(claims.c.claim_key.in_(chunk))):
            out[r.claim_key] = Claim(
                claim_id=r.claim_id, payer_id=r.payer_id, member_id=r.member_id or "",
                patient_name=r.patient_name or "", patient_dob=r.patient_dob or "",
                date_of_service=r.date_of_service or "", provider_npi=r.provider_npi or "",
                diagnosis_codes=_split(r.diagnosis_codes), lines=lines.get(r.claim_key, []),
                prior_auth_number=r.prior_auth_number or "", submitted_date=r.submitted_date or "",
                expected_amount=r.expected_amount, source_file=r.source_file or "",
                source_row=r.source_row, status_category=r.status_category, status_word=r.status_word,
                status_checked_at=r.status_checked_at, final=bool(r.final))
    return out


def claim_keys_for_ids(store: Store, claim_ids: Iterable[str]) -> list[str]:
    """The claim keys (``payer:claim_id``) of these claim ids: a run limited with
    ``--claim``/``--worklist`` takes the work items of exactly these claims."""
    ids = sorted(set(claim_ids))
    keys: list[str] = []
    with store.read() as conn:
        for chunk in _chunks(ids, 500):
            keys.extend(k for (k,) in conn.execute(select(claims.c.claim_key).where(claims.c.claim_id.in_(chunk))))
    return keys
