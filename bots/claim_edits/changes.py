"""What a new edit table or rules file changes, and which unsubmitted claims it can affect.

An edit table is diffed against the active version in SQL (set differences: a CMS quarterly PTP
table has about a million rows, the difference a few thousand), so nothing holds either table
in memory. A PTP pair can only change the result of a claim billing both of its codes on one date
of service; an MUE limit only that of a claim billing its code; a rules change any unsubmitted
claim. Those claims are sent back for a rescan (``Store.record_change``), or, for ``--dry-run``,
evaluated in memory against the staged table (:func:`preview_effect`) without writing anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from bots.claim_edits.config import RULES_FILE, ClaimEditsConfig, load_rules
from bots.claim_edits.engine import RuleEngine
from bots.claim_edits.tables import MUE, PTP, ncci_mue, ncci_ptp
from bots.core.settings import Settings
from bots.core.store import Store, digest, exception_id

__all__ = ["BOT", "RULES_META", "TableDiff", "affected_refs", "preview_effect", "record_rules_change",
           "rules_snapshot", "table_diff"]

BOT = "claim_edits"
RULES_META = "claim_edits.rules"  # the rules file as the last run met it: digest and per-rule settings
LISTED = 100  # pairs or codes listed per category in a change record (the counts are always whole)


@dataclass
class TableDiff:
    kind: str
    added: list[tuple[str, ...]] = field(default_factory=list)  # PTP (column 1, column 2) or MUE (code,)
    deleted: list[tuple[str, ...]] = field(default_factory=list)
    changed: list[tuple[str, ...]] = field(default_factory=list)  # dates, modifier indicator, MUE value or MAI

    @property
    def keys(self) -> list[tuple[str, ...]]:
        return self.added + self.deleted + self.changed

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, keys in (("added", self.added), ("deleted", self.deleted), ("changed", self.changed)):
            out[name] = len(keys)
            out[f"{name}_{'pairs' if self.kind == PTP else 'codes'}"] = ["/".join(k) for k in keys[:LISTED]]
        return out


def table_diff(conn: Connection, kind: str, old_id: int, new_id: int) -> TableDiff:
    """Rows of ``new_id`` not in ``old_id`` and back, by pair (PTP) or code (MUE), in two EXCEPT queries."""
    if kind == PTP:
        t = ncci_ptp.c
        cols = (t.column1, t.column2, t.effective, t.deletion, t.modifier_indicator)
    else:
        t = ncci_mue.c
        cols = (t.code, t.mue_value, t.mai)
    width = 2 if kind == PTP else 1

    def only_in(a: int, b: int) -> set[tuple[str, ...]]:
        q = select(*cols).where(t.version_id == a).except_(select(*cols).where(t.version_id == b))
        return {tuple(r[:width]) for r in conn.execute(q)}

    new_only, old_only = only_in(new_id, old_id), only_in(old_id, new_id)
    in_old = _present(conn, kind, old_id, new_only)
    in_new = _present(conn, kind, new_id, old_only)
    return TableDiff(kind, added=sorted(new_only - in_old), deleted=sorted(old_only - in_new),
                     changed=sorted((new_only & in_old) | (old_only & in_new)))


def _present(conn: Connection, kind: str, version_id: int, keys: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """Which of ``keys`` the version has at all (a pair or code whose terms changed vs. one added)."""
    firsts = sorted({k[0] for k in keys})
    found: set[tuple[str, ...]] = set()
    for i in range(0, len(firsts), 500):
        chunk = firsts[i:i + 500]
        if kind == PTP:
            q = select(ncci_ptp.c.column1, ncci_ptp.c.column2).where(
                ncci_ptp.c.version_id == version_id, ncci_ptp.c.column1.in_(chunk)).distinct()
        else:
            q = select(ncci_mue.c.code).where(ncci_mue.c.version_id == version_id, ncci_mue.c.code.in_(chunk))
        found.update(tuple(r) for r in conn.execute(q))
    return found & keys


def affected_refs(store: Store, conn: Connection, diff: TableDiff) -> list[str]:
    """Unsubmitted claims whose result the diff can change: both codes of a pair on one date of
    service (PTP), or a code whose limit changed (MUE)."""
    keys = diff.keys
    if not keys:
        return []
    codes = {c for k in keys for c in k}
    lines = store.unsubmitted_lines_with_codes(codes, conn)
    if diff.kind == MUE:
        return sorted({key for key, _dos, _code in lines})
    billed: dict[tuple[str, str], set[str]] = {}
    for key, dos, code in lines:
        billed.setdefault((key, dos), set()).add(code)
    pairs = set(keys)
    return sorted({key for (key, _dos), have in billed.items()
                   if any((a, b) in pairs for a in have for b in have if a != b)})


def preview_effect(settings: Settings, store: Store, kind: str, version_id: int, label: str,
                   refs: Iterable[str]) -> dict[str, Any]:
    """The rows a rescan of ``refs`` against the staged table would raise and clear, per rule:
    each claim evaluated in memory and compared with its open rows. Writes nothing."""
    from bots.claim_edits.bot import reference_for
    from bots.claim_edits.importer import active_versions

    refs = sorted(set(refs))
    if not refs:
        return {"raised": {}, "cleared": {}, "rescanned": 0}
    _config, rules = load_rules(settings.config_file(*RULES_FILE.parts))
    versions = {**active_versions(store), kind: (version_id, label)}
    reference = reference_for(store, settings, rules, versions)
    raised: dict[str, list[str]] = {}
    cleared: dict[str, list[str]] = {}
    try:
        engine = RuleEngine(rules, reference)
        claims = store.load_claims(refs)
        open_rows: dict[str, dict[str, str]] = {}
        for r in store.exception_rows(BOT, bot_status="Open", claim_ids={c.claim_id for c in claims.values()}):
            open_rows.setdefault(r["item_ref"], {})[r["exception_id"]] = r["rule_id"]
        for ref, claim in sorted(claims.items()):
            found = {exception_id(BOT, rec.rule_id, claim.claim_id, rec.line_no, rec.detail): rec.rule_id
                     for rec in engine.evaluate(claim).exceptions}
            now_open = open_rows.get(ref, {})
            for ex_id in sorted(set(found) - set(now_open)):
                raised.setdefault(found[ex_id], []).append(ex_id)
            for ex_id in sorted(set(now_open) - set(found)):
                cleared.setdefault(now_open[ex_id], []).append(ex_id)
    finally:
        reference.close()
    return {"raised": raised, "cleared": cleared, "rescanned": len(refs)}


def rules_snapshot(config: ClaimEditsConfig) -> dict[str, Any]:
    """What a rules change is judged on: each rule's version and a digest of its other settings."""
    return {"ready_status": config.ready_status,
            "rules": {rid: {"version": rc.version, "settings": digest(rc.model_dump(mode="json", exclude={"version"}))}
                      for rid, rc in config.rules.items()}}


def _rules_summary(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    versions: dict[str, dict[str, str | None]] = {}
    settings_changed: list[str] = []
    for rid in sorted(set(old["rules"]) | set(new["rules"])):
        a, b = old["rules"].get(rid), new["rules"].get(rid)
        if a is None or b is None or a["version"] != b["version"]:
            versions[rid] = {"old": a and a["version"], "new": b and b["version"]}
        if a is not None and b is not None and a["settings"] != b["settings"]:
            settings_changed.append(rid)
    out: dict[str, Any] = {"rules": versions, "settings_changed": settings_changed}
    if old["ready_status"] != new["ready_status"]:
        out["ready_status"] = {"old": old["ready_status"], "new": new["ready_status"]}
    return out


def record_rules_change(store: Store, config: ClaimEditsConfig, *, run_id: str | None = None) -> int | None:
    """Compare the rules file with the one the last run met; on a difference record the change and
    send every unsubmitted claim back for a rescan. The first run only remembers the file."""
    snapshot = rules_snapshot(config)
    new = digest(snapshot)
    prev = store.get_meta(RULES_META)
    if prev is not None and prev["digest"] == new:
        return None
    refs = [key for key, _dig, _dos in store.unsubmitted_claims()] if prev is not None else []
    with store.begin() as conn:
        change_id = None
        if prev is not None:
            change_id = store.record_change(
                conn, kind="rules", subject=str(RULES_FILE), old=prev["digest"][:12], new=new[:12],
                summary=_rules_summary(prev["snapshot"], snapshot), bot=BOT, refs=refs, run_id=run_id)
        store.set_meta(RULES_META, {"digest": new, "snapshot": snapshot}, conn)
    return change_id
