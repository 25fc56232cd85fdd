"""The audit trail: an append-only, hash-chained record of every decision.

Each record hashes (seq, its fields) together with the previous record's hash, so
``verify_audit`` finds any edit or deletion. Appends happen inside the caller's
transaction, so a decision and its audit record commit together or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from bots.core.store.base import GENESIS, StoreBase, canonical_json, iso as _iso, utcnow
from bots.core.store.schema import audit, audit_head

__all__ = ["AuditEntry", "AuditStore", "audit_hash"]


@dataclass
class AuditEntry:
    action: str
    result: str
    run_id: str | None = None
    bot: str | None = None
    item_ref: str | None = None
    claim_id: str | None = None
    rule_id: str | None = None
    rule_version: str | None = None
    input_digest: str | None = None
    detail: dict[str, Any] | None = None
    evidence_path: str | None = None
    evidence_sha256: str | None = None
    ts: str | None = None


_AUDIT_FIELDS = (
    "ts", "run_id", "bot", "item_ref", "claim_id", "action", "rule_id", "rule_version",
    "input_digest", "result", "detail", "evidence_path", "evidence_sha256",
)
_HASHED_FIELDS = ("seq", *_AUDIT_FIELDS)
_AUDIT_COLUMNS = (*_HASHED_FIELDS, "prev_hash", "hash")
_AUDIT_INSERT = f"INSERT INTO audit ({', '.join(_AUDIT_COLUMNS)}) VALUES ({', '.join('?' * len(_AUDIT_COLUMNS))})"


def audit_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return _hash_values(prev_hash, [row.get(k) for k in _HASHED_FIELDS])


def _hash_values(prev_hash: str, values: Sequence[Any]) -> str:
    """The chain hash over (seq, *_AUDIT_FIELDS) values in that order; None hashes as ""."""
    body = "\x1f".join(["" if v is None else str(v) for v in values])
    return hashlib.sha256(f"{prev_hash}\x1e{body}".encode()).hexdigest()


class AuditStore(StoreBase):
    # ---- audit --------------------------------------------------------------------------------
    def append_audit(self, conn: Connection, entries: Sequence[AuditEntry]) -> None:
        """Append to the hash chain inside the caller's transaction."""
        if not entries:
            return
        q = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
        if not self.is_sqlite:
            q = q.with_for_update()
        head = conn.execute(q).first()
        seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
        now = _iso(utcnow())
        rows = []
        for e in entries:
            seq += 1
            row = [seq, e.ts or now, e.run_id, e.bot, e.item_ref, e.claim_id, e.action, e.rule_id,
                   e.rule_version, e.input_digest, e.result,
                   canonical_json(e.detail) if e.detail is not None else None,
                   e.evidence_path, e.evidence_sha256]
            digest_ = _hash_values(prev, row)
            row += (prev, digest_)
            rows.append(tuple(row))
            prev = digest_
        if self.is_sqlite:  # plain tuples straight to the driver: a scan appends hundreds of thousands
            conn.exec_driver_sql(_AUDIT_INSERT, rows)
        else:
            conn.execute(audit.insert(), [dict(zip(_AUDIT_COLUMNS, r, strict=True)) for r in rows])
        if head is None:
            conn.execute(audit_head.insert().values(id=1, seq=seq, hash=prev))
        else:
            conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=seq, hash=prev))

    def audit(self, entries: Sequence[AuditEntry]) -> None:
        with self.begin() as conn:
            self.append_audit(conn, entries)

    def verify_audit(self) -> list[str]:
        """Recompute the chain; return one problem per broken record (empty = intact)."""
        problems: list[str] = []
        prev, expected_seq = GENESIS, 1
        with self.read() as conn:
            head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).first()
            result = conn.execution_options(yield_per=5000).execute(select(audit).order_by(audit.c.seq))
            for r in result:
                row = dict(r._mapping)
                if row["seq"] != expected_seq:
                    problems.append(f"record {expected_seq}" + (
                        f" to {row['seq'] - 1}" if row["seq"] - 1 > expected_seq else "") + " deleted")
                if row["prev_hash"] != prev:
                    problems.append(f"record {row['seq']}: previous-hash link broken (a record before it was edited or deleted)")
                if audit_hash(row["prev_hash"], row) != row["hash"]:
                    problems.append(f"record {row['seq']} ({row['action']} {row['item_ref'] or ''} {row['rule_id'] or ''}): contents edited after it was written")
                prev, expected_seq = row["hash"], row["seq"] + 1
        last = expected_seq - 1
        if head is not None and (head.seq != last or head.hash != prev):
            problems.append(f"record {last + 1} to {head.seq} deleted from the end of the chain" if head.seq > last
                            else f"chain head does not match record {last}")
        if head is None and last:
            problems.append("chain head missing")
        return problems

    def audit_trail(self, claim_id: str) -> list[dict[str, Any]]:
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(audit).where(audit.c.claim_id == claim_id).order_by(audit.c.seq))]
