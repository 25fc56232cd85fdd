"""Change records: what changed in the reference data, the rules or a payer profile, and its effect.

A change is recorded in the same transaction that makes it take effect (an edit table switching
versions, a run meeting a new rules file): the record, its audit record ``rule_change_recorded``,
one ``rescan_requested`` audit record per claim it sends back, and the reopening of those claims'
work items (lifecycle ``reopen``; items not yet worked are scanned anyway). The open rows of those
items are kept as the change's *baseline*, so once every one of them was scanned again the effect is
exact: rows open now and not in the baseline were raised, baseline rows no longer open were cleared
(``settle_change_effects``, audit ``rule_change_effect``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from bots.core.lifecycle import ItemState, RowState
from bots.core.store.audit import AuditEntry
from bots.core.store.base import StoreBase, canonical_json, chunks as _chunks, digest, iso as _iso, utcnow
from bots.core.store.schema import exceptions, rule_changes, work_items

__all__ = ["CHANGE_EFFECT", "CHANGE_KINDS", "CHANGE_RECORDED", "RESCAN_REQUESTED", "ChangeStore", "describe_change",
           "describe_summary"]

CHANGE_KINDS = ("ptp_table", "mue_table", "rules", "payer_profile")
CHANGE_RECORDED = "rule_change_recorded"
CHANGE_EFFECT = "rule_change_effect"
RESCAN_REQUESTED = "rescan_requested"


def _claim_id(ref: str) -> str:
    return ref.split(":", 1)[1] if ":" in ref else ref  # item references are ``payer:claim_id``


def digest_of(profile: dict[str, str] | None) -> str | None:
    return None if profile is None else digest(profile)[:12]


def _row(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    for k in ("summary", "effect"):
        d[k] = json.loads(d[k]) if d[k] else None
    d["refs"] = len(json.loads(d["refs"]))
    d.pop("baseline", None)
    return d


def describe_summary(summary: dict[str, Any]) -> str:
    """A change record's summary in one line: what `bots edits changes` and the workbook Summary show."""
    if "keys" in summary:
        state = "added" if summary.get("added") else "removed" if summary.get("removed") else ""
        return state or f"keys changed: {', '.join(summary['keys'])}"
    if "added_pairs" in summary or "added_codes" in summary:
        unit = "pair" if "added_pairs" in summary else "code"
        parts = []
        for k in ("added", "deleted", "changed"):
            listed = summary.get(f"{k}_{unit}s") or []
            more = f" …+{summary[k] - len(listed)}" if summary[k] > len(listed) else ""
            parts.append(f"{summary[k]} {unit}(s) {k}" + (f" ({', '.join(listed)}{more})" if listed else ""))
        return "; ".join(parts)
    if "rules" in summary:
        parts = [f"{rid} v{v['old'] or '-'} -> v{v['new'] or '-'}" for rid, v in summary["rules"].items()]
        if summary.get("settings_changed"):
            parts.append(f"settings changed: {', '.join(summary['settings_changed'])}")
        if summary.get("ready_status"):
            parts.append(f"ready_status {summary['ready_status']['old']!r} -> {summary['ready_status']['new']!r}")
        return "; ".join(parts) or "no rule version changed"
    return json.dumps(summary)


def describe_change(change: dict[str, Any]) -> str:
    return f"{change['kind']} {change['subject']}: {describe_summary(change['summary'])}"


class ChangeStore(StoreBase):
    def record_change(self, conn: Connection, *, kind: str, subject: str, old: str | None, new: str | None,
                      summary: dict[str, Any], bot: str | None = None, refs: Sequence[str] = (),
                      run_id: str | None = None) -> int:
        """Record one change, reopen ``bot``'s settled items in ``refs`` for a rescan, audit both."""
        if kind not in CHANGE_KINDS:
            raise ValueError(f"unknown change kind {kind!r}")
        refs = sorted(set(refs))
        baseline: list[str] = []
        if bot and refs:
            for chunk in _chunks(refs, 500):
                baseline.extend(conn.execute(select(exceptions.c.exception_id).where(
                    exceptions.c.bot == bot, exceptions.c.item_ref.in_(chunk),
                    exceptions.c.bot_status == RowState.OPEN)).scalars())
            self.reopen(bot, refs, conn)  # type: ignore[attr-defined]  # QueueStore, combined in Store
        now = _iso(utcnow())
        change_id = conn.execute(rule_changes.insert().values(
            kind=kind, subject=subject, bot=bot, old_version=old, new_version=new,
            summary=canonical_json(summary), refs=canonical_json(refs), baseline=canonical_json(sorted(baseline)),
            created_at=now, effect=None if refs else canonical_json({"raised": {}, "cleared": {}, "rescanned": 0}),
            effect_at=None if refs else now)).inserted_primary_key[0]  # type: ignore[index]
        head = {"change": change_id, "kind": kind, "subject": subject, "old": old, "new": new}
        if "rules" in summary:  # rule versions old -> new on each claim's trail (table diffs can be long: not copied)
            head["rules"] = summary["rules"]
        entries = [AuditEntry(CHANGE_RECORDED, "recorded", run_id=run_id, bot=bot,
                              detail={**head, "summary": summary, "rescan": len(refs)})]
        entries += [AuditEntry(RESCAN_REQUESTED, "reopened", run_id=run_id, bot=bot, item_ref=ref,
                               claim_id=_claim_id(ref), detail=head) for ref in refs]
        self.append_audit(conn, entries)  # type: ignore[attr-defined]  # AuditStore, combined in Store
        return int(change_id)

    def record_payer_profiles(self, profiles: dict[str, dict[str, str]], *, bot: str,
                              run_id: str | None = None) -> list[int]:
        """Compare payer profiles (payer id → key → digest, ``payers.profile_digests``) with the ones the
        last run of ``bot`` met; record one change per payer added, removed or with keys changed. The
        first run only remembers them. Nothing is reopened: a profile acts on the next lookup."""
        key = f"{bot}.profiles"
        prev = self.get_meta(key)  # type: ignore[attr-defined]
        if prev == profiles:
            return []
        ids: list[int] = []
        with self.begin() as conn:
            known = sorted(set(prev) | set(profiles)) if prev is not None else []  # first run: remember only
            for pid in known:
                a, b = prev.get(pid), profiles.get(pid)
                if a == b:
                    continue
                keys = sorted(k for k in set(a or {}) | set(b or {}) if (a or {}).get(k) != (b or {}).get(k))
                ids.append(self.record_change(
                    conn, kind="payer_profile", subject=pid, old=digest_of(a), new=digest_of(b),
                    summary={"keys": keys, "added": a is None, "removed": b is None}, run_id=run_id))
            self.set_meta(key, profiles, conn)  # type: ignore[attr-defined]
        return ids

    def last_change(self, kind: str, subject: str) -> dict[str, Any] | None:
        with self.read() as conn:
            r = conn.execute(select(rule_changes).where(rule_changes.c.kind == kind, rule_changes.c.subject == subject)
                             .order_by(rule_changes.c.id.desc()).limit(1)).first()
        return _row(r) if r else None

    def latest_change(self) -> dict[str, Any] | None:
        with self.read() as conn:
            r = conn.execute(select(rule_changes).order_by(rule_changes.c.id.desc()).limit(1)).first()
        return _row(r) if r else None

    def changes(self, *, since: str | None = None) -> list[dict[str, Any]]:
        """Change records, oldest first (``since``: created at or after this ISO time or date)."""
        q = select(rule_changes).order_by(rule_changes.c.id)
        if since:
            q = q.where(rule_changes.c.created_at >= since)
        with self.read() as conn:
            return [_row(r) for r in conn.execute(q)]

    def settle_change_effects(self, bot: str, *, run_id: str | None = None) -> list[int]:
        """Fill the effect of every change of ``bot`` whose items were all scanned again since.

        An item counts as scanned again when it is settled (a terminal state) and was updated after
        the change. Returns the change ids settled."""
        settled: list[int] = []
        with self.begin() as conn:
            pending = conn.execute(select(rule_changes).where(
                rule_changes.c.bot == bot, rule_changes.c.effect.is_(None)).order_by(rule_changes.c.id)).all()
            for ch in pending:
                refs = json.loads(ch.refs)
                waiting = 0
                for chunk in _chunks(refs, 500):
                    waiting += len(conn.execute(select(work_items.c.id).where(
                        work_items.c.bot == bot, work_items.c.reference.in_(chunk),
                        ~work_items.c.state.in_(ItemState.TERMINAL) | (work_items.c.updated_at < ch.created_at)
                    )).all())
                if waiting:
                    continue
                before = set(json.loads(ch.baseline))
                rows: dict[str, tuple[str, str]] = {}
                for chunk in _chunks(refs, 500):
                    for ex_id, rule, status in conn.execute(select(
                            exceptions.c.exception_id, exceptions.c.rule_id, exceptions.c.bot_status).where(
                            exceptions.c.bot == bot, exceptions.c.item_ref.in_(chunk))):
                        rows[ex_id] = (rule, status)
                raised: dict[str, list[str]] = {}
                cleared: dict[str, list[str]] = {}
                for ex_id, (rule, status) in sorted(rows.items()):
                    if status == RowState.OPEN and ex_id not in before:
                        raised.setdefault(rule, []).append(ex_id)
                    elif status != RowState.OPEN and ex_id in before:
                        cleared.setdefault(rule, []).append(ex_id)
                effect = {"raised": raised, "cleared": cleared, "rescanned": len(refs)}
                now = _iso(utcnow())
                conn.execute(update(rule_changes).where(rule_changes.c.id == ch.id)
                             .values(effect=canonical_json(effect), effect_at=now))
                self.append_audit(conn, [AuditEntry(  # type: ignore[attr-defined]
                    CHANGE_EFFECT, "settled", run_id=run_id, bot=bot,
                    detail={"change": ch.id, "kind": ch.kind, "subject": ch.subject, **effect})])
                settled.append(ch.id)
        return settled
