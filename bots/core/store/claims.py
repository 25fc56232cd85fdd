"""Claims and their service lines in the store: saved by the worklist loader, read by the bots.

The ``Claim``/``ServiceLine`` dataclasses live in ``bots.core.claims``; this module is their
storage. Every read here is bulk (one query per 500 keys), never a query per claim.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select

from bots.core.claims import Claim, ServiceLine
from bots.core.store.base import StoreBase, chunks as _chunks
from bots.core.store.schema import claims, service_lines

__all__ = ["ClaimStore", "load_claims", "replace_claims", "save_claims"]


def save_claims(conn: Connection, items: Sequence[tuple[Claim, str]], loaded_at: str) -> None:
    """Insert or replace claims (with their lines); ``items`` pairs a claim with its digest."""
    replace_claims(conn, items, loaded_at, stored=[c.key for c, _ in items])


def replace_claims(conn: Connection, items: Sequence[tuple[Claim, str]], loaded_at: str, *,
                   stored: Collection[str]) -> None:
    """``save_claims`` for a caller that already knows which of the claims are stored (the worklist
    loader asked for their digests): only those are deleted first, the rest are plain inserts.
    Every statement is one executemany over the batch."""
    if not items:
        return
    keys = [c.key for c, _ in items if c.key in stored]
    for chunk in _chunks(keys, 500):
        conn.execute(delete(service_lines).where(service_lines.c.claim_key.in_(chunk)))
        conn.execute(delete(claims).where(claims.c.claim_key.in_(chunk)))
    claim_rows = [
        (c.key, c.claim_id, c.payer_id, c.member_id, c.patient_name, c.patient_dob, c.date_of_service,
         c.provider_npi, ";".join(c.diagnosis_codes), c.prior_auth_number, c.submitted_date or None,
         c.expected_amount, c.total_charge, d, c.source_file, c.source_row, loaded_at, False)
        for c, d in items
    ]
    line_rows = [
        (c.key, ln.line_no, ln.date_of_service, ln.procedure_code, ";".join(ln.modifiers), ln.units, ln.charge,
         ";".join(str(p) for p in ln.diagnosis_pointers), ln.note_id, "Y" if ln.note_signed else "N",
         ln.note_date, ln.time_minutes, ln.source_row)
        for c, _ in items for ln in c.lines
    ]
    if conn.dialect.name == "sqlite":  # plain tuples straight to the driver: a worklist brings hundreds of thousands
        conn.exec_driver_sql(_INSERT_CLAIM, claim_rows)
        conn.exec_driver_sql(_INSERT_LINE, line_rows)
    else:
        conn.execute(claims.insert(), [dict(zip(_CLAIM_COLUMNS, r, strict=True)) for r in claim_rows])
        conn.execute(service_lines.insert(), [dict(zip(_LINE_COLUMNS, r, strict=True)) for r in line_rows])


_CLAIM_COLUMNS = ("claim_key", "claim_id", "payer_id", "member_id", "patient_name", "patient_dob", "date_of_service",
                  "provider_npi", "diagnosis_codes", "prior_auth_number", "submitted_date", "expected_amount",
                  "total_charge", "digest", "source_file", "source_row", "loaded_at", "final")
_LINE_COLUMNS = ("claim_key", "line_no", "date_of_service", "procedure_code", "modifiers", "units", "charge",
                 "diagnosis_pointers", "note_id", "note_signed", "note_date", "time_minutes", "source_row")
_INSERT_CLAIM = f"INSERT INTO claims ({', '.join(_CLAIM_COLUMNS)}) VALUES ({', '.join('?' * len(_CLAIM_COLUMNS))})"
_INSERT_LINE = (f"INSERT INTO service_lines ({', '.join(_LINE_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_LINE_COLUMNS))})")


# What load_claims reads, in the order it unpacks (not the insert order above).
_READ_LINE_COLUMNS = tuple(service_lines.c[n] for n in (
    "claim_key", "line_no", "procedure_code", "units", "charge", "modifiers", "diagnosis_pointers",
    "date_of_service", "note_id", "note_signed", "note_date", "time_minutes", "source_row"))
_READ_CLAIM_COLUMNS = tuple(claims.c[n] for n in (
    "claim_key", "claim_id", "payer_id", "member_id", "patient_name", "patient_dob", "date_of_service",
    "provider_npi", "diagnosis_codes", "prior_auth_number", "submitted_date", "expected_amount", "source_file",
    "source_row", "status_category", "status_word", "status_checked_at", "final"))


def load_claims(conn: Connection, keys: Iterable[str]) -> dict[str, Claim]:
    """Claims by key, with their lines in line order (two queries per 500 claims).

    Without per-row overhead: named columns unpacked as tuples, dataclasses built positionally,
    each distinct pointer list parsed once. A scan reads every claim it works (tens of thousands a
    run); reading rows by attribute and splitting fields through a helper per value cost it more
    than the two queries themselves.
    """
    out: dict[str, Claim] = {}
    pointers: dict[str, tuple[int, ...]] = {}  # "1;2" -> (1, 2): a worklist repeats a few pointer lists
    line_query = select(*_READ_LINE_COLUMNS).order_by(service_lines.c.claim_key, service_lines.c.line_no)
    claim_query = select(*_READ_CLAIM_COLUMNS)
    for chunk in _chunks(list(keys), 500):
        lines: dict[str, list[ServiceLine]] = {}
        for (key, line_no, code, units, charge, modifiers, ptrs, dos, note_id, signed, note_date, minutes,
             source_row) in conn.execute(line_query.where(service_lines.c.claim_key.in_(chunk))).all():
            if ptrs:
                parsed = pointers.get(ptrs)
                if parsed is None:
                    parsed = pointers[ptrs] = tuple(int(p) for p in ptrs.split(";") if p)
                ptr_list = list(parsed)
            else:
                ptr_list = []
            ln = ServiceLine(line_no, code or "", units or 0, charge or 0.0,
                             [m for m in modifiers.split(";") if m] if modifiers else [], ptr_list,
                             dos or "", note_id or "", signed == "Y", note_date or "", minutes, source_row)
            mine = lines.get(key)
            if mine is None:
                lines[key] = [ln]
            else:
                mine.append(ln)
        for (key, claim_id, payer_id, member_id, name, dob, dos, npi, dx, prior_auth, submitted, expected,
             source_file, source_row, category, word, checked_at, final) in conn.execute(
                claim_query.where(claims.c.claim_key.in_(chunk))).all():
            out[key] = Claim(claim_id, payer_id, member_id or "", name or "", dob or "", dos or "", npi or "",
                             [d for d in dx.split(";") if d] if dx else [], lines.get(key, []), prior_auth or "",
                             submitted or "", expected, source_file or "", source_row, category, word, checked_at,
                             bool(final))
    return out


class ClaimStore(StoreBase):
    # ---- claims ---------------------------------------------------------------------------------
    def save_claims(self, conn: Connection, items: Sequence[tuple[Claim, str]], loaded_at: str) -> None:
        """Insert or replace claims (with their lines) inside the caller's transaction;
        ``items`` pairs a claim with its digest."""
        save_claims(conn, items, loaded_at)

    def replace_claims(self, conn: Connection, items: Sequence[tuple[Claim, str]], loaded_at: str, *,
                       stored: Collection[str]) -> None:
        """Like ``save_claims``, deleting first only the keys in ``stored`` (those already in the store)."""
        replace_claims(conn, items, loaded_at, stored=stored)

    def load_claims(self, keys: Iterable[str], conn: Connection | None = None) -> dict[str, Claim]:
        """Claims by key (``payer:claim_id``) with their lines in line order; unknown keys are left out."""
        if conn is not None:
            return load_claims(conn, keys)
        with self.read() as c:
            return load_claims(c, keys)

    def claim_keys_for_ids(self, claim_ids: Iterable[str]) -> list[str]:
        """The claim keys (``payer:claim_id``) of these claim ids: a run limited with
        ``--claim``/``--worklist`` takes the work items of exactly these claims."""
        ids = sorted(set(claim_ids))
        keys: list[str] = []
        with self.read() as conn:
            for chunk in _chunks(ids, 500):
                keys.extend(conn.execute(select(claims.c.claim_key).where(claims.c.claim_id.in_(chunk))).scalars())
        return keys

    def claim_digests(self, keys: Sequence[str], conn: Connection | None = None) -> dict[str, str]:
        """Stored content digest by claim key, for the keys that are stored (the loader's "unchanged?")."""
        if conn is None:
            with self.read() as c:
                return self.claim_digests(keys, c)
        out: dict[str, str] = {}
        for chunk in _chunks(list(keys), 500):
            out.update(conn.execute(select(claims.c.claim_key, claims.c.digest)
                                    .where(claims.c.claim_key.in_(chunk))).all())
        return out

    def unsubmitted_claims(self) -> list[tuple[str, str, str | None]]:
        """(claim key, digest, date of service) of every claim not yet submitted: claim_edits' queue."""
        with self.read() as conn:
            return [tuple(r) for r in conn.execute(
                select(claims.c.claim_key, claims.c.digest, claims.c.date_of_service)
                .where(claims.c.submitted_date.is_(None)))]

    def unsubmitted_lines_with_codes(self, codes: Collection[str], conn: Connection | None = None,
                                     ) -> list[tuple[str, str, str]]:
        """(claim key, date of service, procedure code) of the lines of unsubmitted claims billing one of
        ``codes``: which claims an edit-table change can affect (the line's date, else the claim's)."""
        if conn is None:
            with self.read() as c:
                return self.unsubmitted_lines_with_codes(codes, c)
        dos = func.coalesce(service_lines.c.date_of_service, claims.c.date_of_service, "")
        out: list[tuple[str, str, str]] = []
        for chunk in _chunks(sorted(set(codes)), 500):
            out.extend(tuple(r) for r in conn.execute(
                select(claims.c.claim_key, dos, service_lines.c.procedure_code)
                .join(service_lines, service_lines.c.claim_key == claims.c.claim_key)
                .where(claims.c.submitted_date.is_(None), service_lines.c.procedure_code.in_(chunk))))
        return out

    def claims_due_for_status(self, *, submitted_by: str, checked_by: str,
                              also: Sequence[str] | None = None) -> list[tuple[str, str, str]]:
        """(claim key, digest, submitted date) of submitted claims without a final status that were
        submitted on or before ``submitted_by`` and not checked since ``checked_by``, plus the
        claim keys in ``also`` (named on the command line) whatever their age; oldest submission first."""
        c = claims.c
        due = and_(c.submitted_date <= submitted_by,
                   or_(c.status_checked_at.is_(None), c.status_checked_at <= checked_by))
        if also is not None:
            due = or_(due, c.claim_key.in_(list(also)))
        with self.read() as conn:
            return [tuple(r) for r in conn.execute(
                select(c.claim_key, c.digest, c.submitted_date)
                .where(c.submitted_date.is_not(None), c.final.is_(False), due)
                .order_by(c.submitted_date, c.claim_key))]

    def claim_rows(self) -> list[dict[str, Any]]:
        """Every stored claim as a plain dict of its columns (what the loader and the bots recorded),
        in claim key order."""
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(select(claims).order_by(claims.c.claim_key))]

    def denial_counts(self, *, since: str, min_denials: int) -> dict[tuple[str, str], int]:
        """(payer id, procedure code) → claims denied (X12 category F2) checked since ``since``,
        for the pairs denied at least ``min_denials`` times."""
        n = func.count(func.distinct(claims.c.claim_key))
        q = (
            select(claims.c.payer_id, service_lines.c.procedure_code, n)
            .join(service_lines, service_lines.c.claim_key == claims.c.claim_key)
            .where(claims.c.status_category == "F2", claims.c.status_checked_at >= since)
            .group_by(claims.c.payer_id, service_lines.c.procedure_code)
            .having(n >= min_denials)
        )
        with self.read() as conn:
            return {(p, code): k for p, code, k in conn.execute(q)}
