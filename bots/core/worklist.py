"""Worklist loading: rows judged, claims built and stored (file reading: ``worklist_files``;
the columns: docs/ARCHITECTURE.md section 8).

A malformed row never stops the load. Its claim is held back (a partial claim
would be scanned wrongly) and an ``INPUT-FORMAT`` exception names the file, the
row, the column and the value; every other claim loads. Loading the same file
twice changes nothing: claims are keyed by payer and claim id, and a claim is
rewritten only when its content digest changed.

Size: about 460 lines: judging a row and storing a claim batch share the row model, the problem
type and the PHI rule for messages; reading (``worklist_files``), grouping (``worklist_groups``)
and profiles (``worklist_profiles``) are already apart.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bots.core.claims import Claim, ServiceLine, claim_key
from bots.core.errors import ExceptionRecord
from bots.core.lifecycle import INPUT_PROBLEMS
from bots.core.logging import get_logger
from bots.core.store import AuditEntry, ExceptionBatchEntry, Store, digest, utcnow
from bots.core.worklist_files import COLUMNS, REQUIRED, Uncached, read_rows, read_values, unreadable
from bots.core.worklist_groups import ClaimGroups
from bots.core.worklist_profiles import DEFAULT_PROFILE, WorklistProfile

__all__ = ["COLUMNS", "INPUT_FORMAT", "PHI_COLUMNS", "LoadResult", "RowProblem", "WorklistRow", "load_worklist",
           "read_rows", "unreadable"]

INPUT_FORMAT = "INPUT-FORMAT"
LOADER_BOT = "worklist"
log = get_logger("bots.worklist")

# Claim-level columns must agree across a claim's rows.
CLAIM_LEVEL = ("member_id", "patient_name", "patient_dob", "provider_npi", "diagnosis_codes",
               "prior_auth_number", "submitted_date", "expected_amount")


# The schema holds claim and payer ids in 60 characters (store/schema.py).
ID_MAX = 60
# Bounds past which a number is a typing or export error, not a real claim: a service line over
# ten million dollars, or more units, lines or minutes than any claim carries.
MONEY_MAX = 10_000_000.0
INT_MAX = {"units": 99_999, "line_no": 9_999, "time_minutes": 1_440}
DATE_COLUMNS = ("patient_dob", "date_of_service", "note_date", "submitted_date")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _split(v: str) -> list[str]:
    return [p.strip() for p in v.split(";") if p.strip()]


class WorklistRow(BaseModel):
    """One service line as validated at the edge; messages name the column."""

    model_config = ConfigDict(str_strip_whitespace=True)

    claim_id: str
    payer_id: str
    member_id: str
    patient_name: str
    patient_dob: date
    date_of_service: date
    provider_npi: str = ""
    line_no: int
    procedure_code: str
    modifiers: list[str] = Field(default_factory=list)
    units: int
    charge: float
    diagnosis_codes: list[str] = Field(default_factory=list)
    diagnosis_pointers: list[int] = Field(default_factory=list)
    prior_auth_number: str = ""
    note_id: str = ""
    note_signed: bool = False
    note_date: date | None = None
    time_minutes: int | None = None
    submitted_date: date | None = None
    expected_amount: float | None = None

    @field_validator("payer_id")
    @classmethod
    def _payer_lower(cls, v: str) -> str:
        return v.lower()

    @field_validator("claim_id", "payer_id")
    @classmethod
    def _id_length(cls, v: str) -> str:
        if len(v) > ID_MAX:
            raise ValueError(f"longer than {ID_MAX} characters ({len(v)})")
        return v

    @field_validator(*DATE_COLUMNS, mode="before")
    @classmethod
    def _iso_date(cls, v: Any) -> Any:
        # Only YYYY-MM-DD text (an Excel date cell arrives as that, see worklist_files._cell) is a date: a plain
        # number such as 0 or 86400 would otherwise pass as seconds since 1970.
        if isinstance(v, str) and not _ISO_DATE.fullmatch(v):
            raise ValueError("expected a date like 2026-10-03 (YYYY-MM-DD) or an Excel date cell")
        return v

    @field_validator("charge", "expected_amount", "units", "line_no", "time_minutes", mode="before")
    @classmethod
    def _finite(cls, v: Any) -> Any:
        # float() takes "inf", "Infinity", "nan" and "1e309" (which overflows to inf): none is an amount.
        if isinstance(v, str) and v.strip():
            try:
                f = float(v)
            except ValueError:
                return v  # not a number at all: the type check says so
            if not math.isfinite(f):
                raise ValueError("not a finite number")
        return v

    @field_validator("procedure_code")
    @classmethod
    def _code(cls, v: str) -> str:
        v = v.upper()
        if not (len(v) == 5 and v.isalnum()):
            raise ValueError("expected a 5-character CPT/HCPCS code")
        return v

    @field_validator("modifiers", "diagnosis_codes", mode="before")
    @classmethod
    def _list(cls, v: Any) -> list[str]:
        return [p.upper() for p in _split(v)] if isinstance(v, str) else v

    @field_validator("diagnosis_pointers", mode="before")
    @classmethod
    def _pointers(cls, v: Any) -> Any:
        return _split(v) if isinstance(v, str) else v

    @field_validator("note_signed", mode="before")
    @classmethod
    def _yn(cls, v: Any) -> bool:
        s = str(v or "").strip().upper()
        if s in ("Y", "YES", "TRUE", "1"):
            return True
        if s in ("", "N", "NO", "FALSE", "0"):
            return False
        raise ValueError("expected Y or N")

    @field_validator("units", "line_no")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be a whole number of at least 1")
        return v

    @field_validator("units", "line_no", "time_minutes")
    @classmethod
    def _int_bound(cls, v: int | None, info: Any) -> int | None:
        limit = INT_MAX[info.field_name]
        if v is not None and v > limit:
            raise ValueError(f"more than {limit:,}: not a plausible value")
        return v

    @field_validator("charge", "expected_amount")
    @classmethod
    def _money(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("not a finite number")
        if v is not None and v < 0:
            raise ValueError("must not be negative")
        if v is not None and v > MONEY_MAX:
            raise ValueError(f"more than {MONEY_MAX:,.0f}: not a plausible amount")
        return None if v is None else round(v, 2)


# Never echoed in a message, a log or the workbook's Reason (docs/ARCHITECTURE.md section 6).
PHI_COLUMNS = frozenset({"member_id", "patient_name", "patient_dob"})


@dataclass
class RowProblem:
    row: int
    column: str
    value: Any  # None for a PHI column: the value is never kept for a message
    message: str

    def __post_init__(self) -> None:
        if self.column in PHI_COLUMNS:
            self.value = None

    @property
    def shown(self) -> str:
        """The value as a message shows it: quoted, or withheld for a PHI column."""
        return "value not shown: patient data" if self.column in PHI_COLUMNS else f"value: {self.value!r}"

    def plain(self, file: str) -> str:
        """The problem as the operators' sheet says it: where, the value (never a patient's), what was
        expected, and what happens now."""
        value = "(value not shown: patient data)" if self.column in PHI_COLUMNS else (
            "(empty)" if self.value in (None, "") else repr(str(self.value)))
        return (f"{file} row {self.row}, column {self.column}: {value}: {self.message.rstrip('.')}. "
                f"This claim was held back; fix the row where the worklist comes from and load the file again.")


@dataclass
class LoadResult:
    file: str
    profile: str = DEFAULT_PROFILE.name
    rows: int = 0
    claims_new: int = 0
    claims_updated: int = 0
    claims_unchanged: int = 0
    claims_rejected: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "profile": self.profile, "rows": self.rows, "claims_new": self.claims_new,
                "claims_updated": self.claims_updated, "claims_unchanged": self.claims_unchanged,
                "claims_rejected": self.claims_rejected, "bad_rows": len(self.problems)}


# pydantic's error types → what the operator should have written, per column kind
_NUMBER_ERRORS = frozenset({"float_parsing", "float_type"})
_INT_ERRORS = frozenset({"int_parsing", "int_from_float", "int_type", "int_parsing_size"})
_DATE_ERRORS = frozenset({"date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact", "date_type"})
_MONEY_COLUMNS = ("charge", "expected_amount")
_LIST_COLUMNS = ("modifiers", "diagnosis_codes", "diagnosis_pointers")


def _plain(err: Any, col: str, profile: WorklistProfile) -> str:
    """A validation error in the operator's words: what the column expects, not what pydantic tried."""
    kind = err["type"]
    if kind in _NUMBER_ERRORS:
        return profile.amount_expected() if col in _MONEY_COLUMNS else "expected a number like 12.5"
    if kind in _INT_ERRORS:
        return "expected a whole number like 2"
    if kind in _DATE_ERRORS:
        return f"not a calendar date; {profile.date_expected()}"
    return str(err["msg"]).removeprefix("Value error, ")


def _translate(col: str, v: str, profile: WorklistProfile, data: dict[str, Any]) -> str:
    """A value as the worklist format writes it, per ``profile`` (ValueError says what was expected)."""
    if col in DATE_COLUMNS:
        if _ISO_DATE.fullmatch(v):
            return v
        if not profile.dates.formats:
            raise ValueError(profile.date_expected())
        return profile.read_date(v)
    if col in _MONEY_COLUMNS:
        return profile.read_amount(v) if profile.money.active else v
    if col == "procedure_code":
        code, modifiers = profile.code(v)
        if modifiers:
            data["_code_modifiers"] = modifiers
        return code
    if col in _LIST_COLUMNS:
        return profile.split_list(v)
    return v


def _validate(n: int, raw: dict[str, str], profile: WorklistProfile | None = None,
              ) -> tuple[WorklistRow | None, list[RowProblem]]:
    """One row judged; ``profile`` None is the default profile (the worklist format as it is)."""
    data: dict[str, Any] = {}
    problems = []
    unread: list[RowProblem] = []  # values the profile could not translate; the other columns are still judged
    for col in COLUMNS:
        v = raw.get(col, "")
        if isinstance(v, Uncached):
            problems.append(RowProblem(n, col, v.formula, "formula without a value: open and save the file "
                                                          "in Excel first (it calculates and saves the results)"))
            continue
        if v == "":
            if col in REQUIRED:
                problems.append(RowProblem(n, col, v, "required value is missing"))
            continue
        if profile is not None:
            try:
                v = _translate(col, v, profile, data)
            except ValueError as exc:
                unread.append(RowProblem(n, col, raw.get(col, ""), str(exc)))
                continue
        elif col in DATE_COLUMNS and not _ISO_DATE.fullmatch(v):
            unread.append(RowProblem(n, col, v, DEFAULT_PROFILE.date_expected()))
            continue
        data[col] = v
    if problems:
        return None, problems
    extra = data.pop("_code_modifiers", None)
    if extra:  # "99214-25" with 25 in Mod 1 as well is one modifier 25, not two
        data["modifiers"] = ";".join(dict.fromkeys([*extra, *data.get("modifiers", "").split(";")]))
    try:
        row = WorklistRow.model_validate(data)
    except ValidationError as exc:
        said = {p.column for p in unread}
        for err in exc.errors():
            col = str(err["loc"][0]) if err["loc"] else "?"
            if col not in said:  # a column left out above is "missing" to pydantic: it was said already
                unread.append(RowProblem(n, col, raw.get(col, ""), _plain(err, col, profile or DEFAULT_PROFILE)))
        row = None
    if unread:
        unread.sort(key=lambda p: COLUMNS.index(p.column) if p.column in COLUMNS else len(COLUMNS))
        return None, unread
    return row, []


def _to_claim(rows: list[tuple[int, WorklistRow]], source: str) -> Claim:
    n0, first = rows[0]
    lines = [
        ServiceLine(
            line_no=r.line_no, procedure_code=r.procedure_code, units=r.units, charge=r.charge,
            modifiers=r.modifiers, diagnosis_pointers=r.diagnosis_pointers,
            date_of_service=r.date_of_service.isoformat(), note_id=r.note_id, note_signed=r.note_signed,
            note_date=r.note_date.isoformat() if r.note_date else "", time_minutes=r.time_minutes, source_row=n,
        )
        for n, r in sorted(rows, key=lambda x: x[1].line_no)
    ]
    return Claim(
        claim_id=first.claim_id, payer_id=first.payer_id, member_id=first.member_id,
        patient_name=first.patient_name, patient_dob=first.patient_dob.isoformat(),
        date_of_service=min(r.date_of_service for _, r in rows).isoformat(),
        provider_npi=first.provider_npi, diagnosis_codes=first.diagnosis_codes, lines=lines,
        prior_auth_number=first.prior_auth_number,
        submitted_date=first.submitted_date.isoformat() if first.submitted_date else "",
        expected_amount=first.expected_amount, source_file=source, source_row=n0,
    )


def _judge(rows: list[tuple[int, dict[str, str]]], known_payers: set[str] | None,
           profile: WorklistProfile | None = None) -> tuple[list[tuple[int, WorklistRow]], list[RowProblem]]:
    """One claim's rows judged: its good lines, and every problem (any problem holds the claim back)."""
    good: list[tuple[int, WorklistRow]] = []
    bad: list[RowProblem] = []
    for n, raw in rows:
        row, problems = _validate(n, raw, profile)
        if row is not None and known_payers is not None and row.payer_id not in known_payers:
            problems = [RowProblem(n, "payer_id", raw.get("payer_id"),
                                   f"unknown payer; expected one of {', '.join(sorted(known_payers))}")]
        if problems:
            bad.extend(problems)
            continue
        assert row is not None
        if good:
            n0, first = good[0]
            for col in CLAIM_LEVEL:
                if getattr(row, col) != getattr(first, col):
                    bad.append(RowProblem(n, col, raw.get(col, ""), f"differs from row {n0} of the same claim"))
            if any(r.line_no == row.line_no for _, r in good):
                bad.append(RowProblem(n, "line_no", row.line_no, "line number repeated in this claim"))
        good.append((n, row))
    return good, bad


@dataclass
class _Batch:
    """Claims judged and waiting for one store transaction."""

    good: list[tuple[Claim, list[int]]] = field(default_factory=list)
    bad: list[tuple[tuple[str, str], dict[str, str], list[RowProblem]]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.good) + len(self.bad)


# Claims per store transaction: big enough that statements are executemany over thousands of
# rows, small enough that a load never holds the write lock (or memory) for long.
BATCH_CLAIMS = 2_000


def load_worklist(store: Store, path: Path, *, known_payers: set[str] | None = None,
                  run_id: str | None = None, profile: WorklistProfile | None = None) -> LoadResult:
    """Load ``path`` into the store. Raises ``InputError`` only for a file that cannot be read at all.

    ``profile`` (``worklist_profiles``) reads a source's own headers, dates, amounts and codes;
    None or the default profile reads the worklist format as documented.

    The file is streamed and its rows grouped by claim through a temporary spill file
    (``worklist_groups``), so memory stays bounded however long the file is and however scattered a
    claim's lines are. Claims are stored in batches of ``BATCH_CLAIMS``, each batch one
    transaction; a load that stops half-way leaves whole claims only, and loading the file again
    finishes the job (unchanged claims are recognised by their digest). The whole file is read
    before the first claim is stored, so a file that turns out unreadable half-way stores nothing.
    """
    path = Path(path)
    active = None if profile is None or profile.is_default else profile
    result = LoadResult(file=str(path), profile=profile.name if profile is not None else DEFAULT_PROFILE.name)
    now = utcnow().isoformat(timespec="seconds")
    # INPUT-FORMAT rows still open: a claim that now loads cleanly clears its own (usually none).
    clearable = store.clearable_refs(LOADER_BOT)
    with ClaimGroups() as groups:
        for n, values in read_values(path, aliases=active.aliases if active else None):
            result.rows += 1
            groups.add(n, values)
        batch = _Batch()
        for key, rows in groups:
            good, problems = _judge(rows, known_payers, active)
            if problems:
                batch.bad.append((key, rows[0][1], problems))
            else:
                batch.good.append((_to_claim(good, path.name), [n for n, _ in good]))
            if len(batch) >= BATCH_CLAIMS:
                _store_batch(store, batch, path, run_id, now, result, clearable)
                batch = _Batch()
        _store_batch(store, batch, path, run_id, now, result, clearable)
    log.info("worklist_loaded", **result.as_dict())
    return result


def _store_batch(store: Store, batch: _Batch, path: Path, run_id: str | None, now: str,
                 result: LoadResult, clearable: set[str]) -> None:
    if not batch:
        return
    loaded: list[tuple[Claim, str]] = []
    audit: list[AuditEntry] = []
    with store.begin() as conn:
        existing = store.claim_digests([c.key for c, _ in batch.good], conn)
        for claim, rows in batch.good:
            d = digest(claim.content())
            old = existing.get(claim.key)
            if old == d:
                result.claims_unchanged += 1
                continue
            loaded.append((claim, d))
            if old is None:
                result.claims_new += 1
            else:
                result.claims_updated += 1
            audit.append(AuditEntry(action="claim_loaded", result="updated" if old else "new",
                                    run_id=run_id, bot=LOADER_BOT, item_ref=claim.key,
                                    claim_id=claim.claim_id, input_digest=d,
                                    detail={"file": path.name, "rows": rows}))
        store.replace_claims(conn, loaded, now, stored=existing.keys())
        # A claim that loads cleanly clears its earlier INPUT-FORMAT rows (one statement per 200 claims).
        store.record_exceptions_many(conn, bot=LOADER_BOT, run_id=None,
                                     entries=[ExceptionBatchEntry(c.key, []) for c, _ in batch.good
                                              if c.key in clearable])
        held: list[ExceptionBatchEntry] = []
        for key, raw, problems in batch.bad:
            # An id over the schema's length is itself the problem: the row's place names it instead.
            fits = all(key) and all(len(k) <= ID_MAX for k in key)
            ref = claim_key(*key) if fits else f"{path.name}:row{problems[0].row}"
            claim_id = key[1][:ID_MAX] or None
            records = [
                ExceptionRecord(
                    queue=INPUT_PROBLEMS, rule_id=INPUT_FORMAT, rule_version="1", claim_id=claim_id,
                    reason=p.plain(path.name), detail=f"{path.name}:{p.row}:{p.column}",
                    evidence=f"{path.name} row {p.row}",
                    # No patient on the operators' sheet: the file and row say where to look.
                    extra={"payer_id": key[0][:ID_MAX] or None, "dos": raw.get("date_of_service") or None})
                for p in problems
            ]
            held.append(ExceptionBatchEntry(ref, records))
            audit.append(AuditEntry(action="row_rejected", result="exception", run_id=run_id, bot=LOADER_BOT,
                                    item_ref=ref, claim_id=claim_id, rule_id=INPUT_FORMAT, rule_version="1",
                                    detail={"file": path.name, "problems": [
                                        {"row": p.row, "column": p.column, "message": p.message} for p in problems]}))
            result.problems.extend(problems)
            result.claims_rejected += 1
        store.record_exceptions_many(conn, bot=LOADER_BOT, run_id=run_id, entries=held, clear_others=False)
        store.append_audit(conn, audit)
