"""The audit trail: an append-only, hash-chained record of every decision.

Each record hashes (seq, its fields) together with the previous record's hash, so
``verify_audit`` finds any edit or deletion. Appends happen inside the caller's
transaction, so a decision and its audit record commit together or not at all.

With ``audit_keys`` set (``bots.core.audit_keys``; the CLI and the scheduler set it) the chain
hash is an HMAC-SHA256 under a key kept outside the database and the record names the key id;
after each commit that appended records the new head is written, signed, to the checkpoint
file. Records with no key id are from before keys (plain sha256, fields unchanged): they verify
as before, and the first keyed record's HMAC covers their last hash, so they cannot be
rewritten either once a keyed record follows. A record without a key id after a keyed one is a
downgrade and is reported.

Rule verdicts come in two forms. Older databases hold one ``rule_evaluated`` record per rule (rule id
and version in their own columns). A scan now writes one ``rules_evaluated`` record per claim: the
claim digest in ``input_digest`` and, in ``detail``, the edit-table versions and the ``verdicts``
list (rule id, version, result, the rule's own detail), so a claim's dozen decisions are hashed,
keyed and inserted once. The chain treats both alike; :func:`decisions` turns either into one row per
rule decision for reading.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from bots.core.store.base import GENESIS, StoreBase, canonical_json, iso as _iso, utcnow
from bots.core.store.schema import audit, audit_head

if TYPE_CHECKING:
    from bots.core.audit_keys import AuditKeys

__all__ = ["RULE_EVALUATED", "RULES_EVALUATED", "AuditEntry", "AuditStore", "PreparedAudit", "audit_hash", "decisions",
           "verdict"]

RULE_EVALUATED = "rule_evaluated"  # one rule's verdict (the older form, one record per rule)
RULES_EVALUATED = "rules_evaluated"  # every rule's verdict on one item, in one record


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


@dataclass
class PreparedAudit:
    """Audit records as column values in ``_AUDIT_FIELDS`` order, awaiting their place in the chain."""

    now: str
    rows: list[tuple[Any, ...]]


_AUDIT_FIELDS = (
    "ts", "run_id", "bot", "item_ref", "claim_id", "action", "rule_id", "rule_version",
    "input_digest", "result", "detail", "evidence_path", "evidence_sha256",
)
_HASHED_FIELDS = ("seq", *_AUDIT_FIELDS)
_AUDIT_COLUMNS = (*_HASHED_FIELDS, "prev_hash", "hash", "key_id")
_PENDING = "bots.audit_checkpoint"  # conn.info key: the head to checkpoint once the transaction commits
_AUDIT_INSERT = f"INSERT INTO audit ({', '.join(_AUDIT_COLUMNS)}) VALUES ({', '.join('?' * len(_AUDIT_COLUMNS))})"


def audit_hash(prev_hash: str, row: dict[str, Any]) -> str:
    return _hash_values(prev_hash, [row.get(k) for k in _HASHED_FIELDS])


def _hash_values(prev_hash: str, values: Sequence[Any]) -> str:
    """The chain hash over (seq, *_AUDIT_FIELDS) values in that order; None hashes as ""."""
    return hashlib.sha256(_message(prev_hash, values)).hexdigest()


def _message(prev_hash: str, values: Sequence[Any]) -> bytes:
    body = "\x1f".join(["" if v is None else str(v) for v in values])
    return f"{prev_hash}\x1e{body}".encode()


def _keyed_hash(mac: Any, prev_hash: str, values: Sequence[Any], kid: str) -> str:
    """HMAC-SHA256 (``mac``: keyed once, copied per record) over the legacy message and the key id."""
    h = mac.copy()
    h.update(_message(prev_hash, values) + b"\x1f" + kid.encode())
    return h.hexdigest()


def verdict(rule_id: str, version: str, result: str, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """One entry of a ``rules_evaluated`` record's ``verdicts`` list."""
    if detail is None:
        return {"rule": rule_id, "version": version, "result": result}
    return {"rule": rule_id, "version": version, "result": result, "detail": detail}


def decisions(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A stored record as one row per decision, in the per-rule shape.

    A ``rules_evaluated`` record becomes one ``rule_evaluated`` row per verdict: the record's columns
    (seq, hashes, claim, input digest) with the verdict's rule id, version, result and detail (JSON
    text, as the per-rule form stored it), plus ``tables`` (the edit-table versions the claim was
    checked against) and ``verdict`` (its position, from 1). Any other record, or one whose detail no
    longer parses (``bots audit verify`` names it), is returned as it is.
    """
    row = dict(record)
    if row.get("action") != RULES_EVALUATED or not row.get("detail"):
        return [row]
    try:
        body = json.loads(row["detail"])
        verdicts = body["verdicts"]
        out = []
        for n, v in enumerate(verdicts, start=1):
            detail = v.get("detail")
            out.append({**row, "action": RULE_EVALUATED, "rule_id": v["rule"], "rule_version": v["version"],
                        "result": v["result"], "detail": None if detail is None else canonical_json(detail),
                        "tables": body.get("tables"), "verdict": n})
    except (ValueError, KeyError, TypeError, AttributeError):
        return [row]
    return out or [row]


class AuditStore(StoreBase):
    audit_keys: AuditKeys | None = None  # None: unkeyed records (tests, tools); verify flags them after keyed ones

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction; once it has committed, the audit head it moved is checkpointed."""
        info: dict[Any, Any] = {}
        try:
            with super().begin() as conn:
                info = conn.info  # the DBAPI connection's dict: still readable once the connection is closed
                info.pop(_PENDING, None)
                yield conn
            pending = info.pop(_PENDING, None)
            if pending is not None and self.audit_keys is not None:
                self.audit_keys.checkpoint(*pending)
        finally:
            info.pop(_PENDING, None)

    # ---- audit --------------------------------------------------------------------------------
    def append_audit(self, conn: Connection, entries: Sequence[AuditEntry] | PreparedAudit) -> None:
        """Append to the hash chain inside the caller's transaction. ``entries`` may come prepared
        (``prepare_audit``, outside the transaction: a write lock is held for the chaining only)."""
        prepared = entries if isinstance(entries, PreparedAudit) else self.prepare_audit(entries)
        if not prepared.rows:
            return
        q = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
        if not self.is_sqlite:
            q = q.with_for_update()
        head = conn.execute(q).first()
        seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
        now = prepared.now
        kid, mac = None, None
        if self.audit_keys is not None:
            kid, key = self.audit_keys.current()
            mac = self.audit_keys.record_mac(key)
        rows = []
        for values in prepared.rows:
            seq += 1
            row = [seq, *values]
            digest_ = _hash_values(prev, row) if kid is None else _keyed_hash(mac, prev, row, kid)
            row += (prev, digest_, kid)
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
        if kid is not None:
            conn.info[_PENDING] = (seq, prev, now)  # written by begin() after the commit, never before

    @staticmethod
    def prepare_audit(entries: Sequence[AuditEntry]) -> PreparedAudit:
        """The records' column values, details as canonical JSON, ready to chain (no database work)."""
        now = _iso(utcnow())
        return PreparedAudit(now, [
            (e.ts or now, e.run_id, e.bot, e.item_ref, e.claim_id, e.action, e.rule_id, e.rule_version,
             e.input_digest, e.result, canonical_json(e.detail) if e.detail is not None else None,
             e.evidence_path, e.evidence_sha256) for e in entries])

    def checkpoint_audit_head(self) -> tuple[int, str] | None:
        """Sign the current chain head into the checkpoint file now (after a key rotation)."""
        if self.audit_keys is None:
            return None
        with self.read() as conn:
            head = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)).first()
        if head is None:
            return None
        self.audit_keys.checkpoint(head.seq, head.hash, _iso(utcnow()))
        return head.seq, head.hash

    def audit(self, entries: Sequence[AuditEntry]) -> None:
        with self.begin() as conn:
            self.append_audit(conn, entries)

    def verify_audit(self) -> list[str]:
        """Recompute the chain and check it against the signed checkpoints; one problem per finding."""
        problems: list[str] = []
        keys = self.audit_keys
        checkpoints, cp_problems = keys.read_checkpoints() if keys is not None else ([], [])
        witnessed: dict[int, list[Any]] = {}
        for cp in checkpoints:
            witnessed.setdefault(cp.seq, []).append(cp)
        macs: dict[str, Any] = {}
        unknown_keys: dict[str, int] = {}
        first_keyed: int | None = None
        prev, expected_seq = GENESIS, 1
        with self.read() as conn:
            head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).first()
            result = conn.execution_options(yield_per=5000).execute(select(audit).order_by(audit.c.seq))
            for r in result:
                row = dict(r._mapping)
                seq, kid = row["seq"], row["key_id"]
                if seq != expected_seq:
                    problems.append(f"record {expected_seq}" + (
                        f" to {seq - 1}" if seq - 1 > expected_seq else "") + " deleted")
                if row["prev_hash"] != prev:
                    problems.append(f"record {seq}: previous-hash link broken (a record before it was edited or deleted)")
                what = f"record {seq} ({' '.join(v for v in (row['action'], row['item_ref'], row['rule_id']) if v)})"
                if kid is None:
                    if first_keyed is not None:
                        problems.append(f"{what}: has no audit key id although record {first_keyed} before it has "
                                        f"one (written or rewritten without the key)")
                    elif audit_hash(row["prev_hash"], row) != row["hash"]:
                        problems.append(f"{what}: contents edited after it was written")
                else:
                    first_keyed = first_keyed or seq
                    if kid not in macs:
                        key = keys.get(kid) if keys is not None else None
                        macs[kid] = keys.record_mac(key) if keys is not None and key is not None else None
                    if macs[kid] is None:
                        unknown_keys[kid] = unknown_keys.get(kid, 0) + 1
                    elif _keyed_hash(macs[kid], row["prev_hash"], [row.get(k) for k in _HASHED_FIELDS],
                                     kid) != row["hash"]:
                        problems.append(f"{what}: signature (HMAC, key {kid}) does not match: edited after it was "
                                        f"written, or the chain was recomputed without the key")
                for cp in witnessed.pop(seq, ()):
                    if cp.hash != row["hash"]:
                        problems.append(f"checkpoint line {cp.line} ({cp.ts}) for record {seq} does not match the "
                                        f"chain: that record or one before it was rewritten")
                prev, expected_seq = row["hash"], seq + 1
        last = expected_seq - 1
        if head is not None and (head.seq != last or head.hash != prev):
            problems.append(f"record {last + 1} to {head.seq} deleted from the end of the chain" if head.seq > last
                            else f"chain head does not match record {last}")
        if head is None and last:
            problems.append("chain head missing")
        for kid, n in unknown_keys.items():
            where = "BOTS_AUDIT_KEY" if keys is not None and keys.from_environment else (
                keys.key_file if keys is not None else "no key configured")
            problems.append(f"{n} record(s) signed with audit key {kid}, which is not known ({where}): "
                            f"they cannot be checked (restore the retired key) or were forged")
        problems += cp_problems
        beyond = sorted(s for s in witnessed if s > last)
        if beyond:
            cp = witnessed[beyond[-1]][0]
            problems.append(f"the chain ends at record {last} but checkpoint line {cp.line} ({cp.ts}) witnessed record "
                            f"{cp.seq}: records {last + 1} to {cp.seq} were cut from the end")
        for s_ in sorted(s for s in witnessed if s <= last):
            problems.append(f"checkpoint line {witnessed[s_][0].line} witnessed record {s_}, which is not in the chain")
        if keys is not None and first_keyed is not None:
            if not keys.checkpoint_file.exists():
                problems.append(f"checkpoint file {keys.checkpoint_file} is missing although records from "
                                f"{first_keyed} on are signed: it was deleted or moved")
            else:
                top = max((cp.seq for cp in checkpoints), default=0)
                if top < last and self.is_sqlite:  # one machine writes every commit's checkpoint
                    problems.append(f"records {top + 1} to {last} are not in the checkpoint file {keys.checkpoint_file} "
                                    f"(it ends at record {top}): it was truncated, or a write failed after a crash")
        return problems

    def audit_trail(self, claim_id: str) -> list[dict[str, Any]]:
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(
                select(audit).where(audit.c.claim_id == claim_id).order_by(audit.c.seq))]
