"""The Quality Review sheet's merge: QA entries read back, new decisions sampled, reviewers
assigned, Bot Check, and what a Pass or a Fail does.

Runs at the start of each merge, in its transaction, before the exception rows are read, so a
follow-up row a Fail opens is written (and given an owner) by the same sync:

1. QA entries are merged by Sample ID, believed only when the row shows the sample's own
   Decision Ref and no other row shows the same ID (the same idea as ``identity``; unlike a
   queue sheet, such rows are not shown again as left: the write puts the sample back as stored
   and the Bot Check asks for the entries again); every change is an audit record ``qa_update``;
2. decisions recorded since the last pass (``quality.bot_decisions`` over new audit records) and
   coder resolutions that are applied or ready are sampled by ``quality.is_sampled``, plus each
   coder's weekly minimum; each new sample is an audit record ``qa_sampled`` holding the seed inputs;
3. an open sample without a reviewer gets a present ``qa`` or ``senior`` who did not make the
   decision, fewest open samples first (``qa_reviewer_assigned``);
4. Bot Check: a reviewer who made the decision or is not qa/senior, a result other than Pass or
   Fail, a Fail without Finding Category and QA Note, a category not in the list;
5. a complete Pass turns the sample Synced (``qa_reviewed``); a complete Fail opens one linked
   row (``quality`` bot, its Sample ID as the item, so reruns never add a second) and turns the
   sample Synced (``qa_failed``): a bot's decision reopens as ``QA-OVERTURNED`` in its queue,
   counted against its rule and version; a coder's as ``QA-REWORK`` in the row's queue, assigned
   to that coder; the original row is left as the coder left it. A coder resolution whose row is
   no longer resolved before review turns the sample Cleared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection

from bots.core.errors import ExceptionRecord
from bots.core.lifecycle import CoderStatus, RowState, ready_to_sync
from bots.core.quality import CODER_KIND, Decision, QualityConfig, bot_decisions, is_sampled, sample_hash, sample_id
from bots.core.store import AuditEntry, Store
from bots.core.team import Role, Team
from bots.core.workbook.layout import QA_RESULTS, QUALITY_FIELDS
from bots.core.workbook.reader import ReadBack

__all__ = ["OVERTURNED_RULE", "QUALITY_BOT", "REWORK_RULE", "ReviewResult", "review_pass"]

QUALITY_BOT = "quality"
OVERTURNED_RULE = "QA-OVERTURNED"
REWORK_RULE = "QA-REWORK"
META_KEY = "quality"  # {"seq": the last audit record looked at for bot decisions}


@dataclass
class ReviewResult:
    audit: list[AuditEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _name(value: str | None) -> str:
    return (value or "").strip()


def _coder_decisions(rows: list[dict[str, Any]]) -> list[Decision]:
    out = []
    for row in rows:
        coder = _name(row["resolved_by"])
        if row["status"] != CoderStatus.RESOLVED or not coder:
            continue
        if row["bot_status"] != RowState.SYNCED and not ready_to_sync(row):
            continue
        at = row["resolved_on"] or row["coder_updated_at"] or row["last_seen"]
        out.append(Decision(CODER_KIND, f"{row['exception_id']}|{coder}|{row['resolved_on'] or ''}", at, coder,
                            row["claim_id"], row["exception_id"], row["queue"], row["review_level"], row["rule_id"],
                            row["rule_version"], f"resolved: {row['resolution']}",
                            f"note: {row['resolution_note'] or ''}", row["evidence_file"]))
    return out


def _sample_row(d: Decision, rate: float, reason: str, now: str) -> dict[str, Any]:
    return {"sample_id": sample_id(d.kind, d.ref), "kind": d.kind, "decision_ref": d.ref, "period": d.period,
            "rate": rate, "reason": reason, "decided_by": d.decided_by, "decided_at": d.at, "claim_id": d.claim_id,
            "item_ref": d.item_ref, "queue": d.queue, "review_level": d.review_level, "rule_id": d.rule_id,
            "rule_version": d.rule_version, "decision": d.what, "evidence": d.evidence,
            "evidence_file": d.evidence_file, "sampled_at": now, "bot_status": RowState.OPEN,
            **dict.fromkeys(("qa_reviewer", "qa_result", "finding_category", "qa_note", "reviewer_by_bot",
                             "qa_updated_at", "bot_check", "followup_id", "synced_at"))}


def _sampled_audit(row: dict[str, Any], now: str) -> AuditEntry:
    h = sample_hash(row["period"], row["kind"], row["decision_ref"])
    return AuditEntry(action="qa_sampled", result=row["reason"], bot=QUALITY_BOT, item_ref=row["sample_id"],
                      claim_id=row["claim_id"], rule_id=row["rule_id"], rule_version=row["rule_version"], ts=now,
                      detail={"period": row["period"], "kind": row["kind"], "ref": row["decision_ref"],
                              "rate": row["rate"], "reason": row["reason"], "hash": f"{h:064x}",
                              "decided_by": row["decided_by"], "rule": "sha256(period:kind:ref) < rate * 2**256"})


def _sample(store: Store, conn: Connection, config: QualityConfig, existing: dict[str, dict[str, Any]],
            now: str) -> list[dict[str, Any]]:
    """New samples among the decisions made since the last pass (see the module docstring)."""
    new: list[dict[str, Any]] = []
    mark = store.get_meta(META_KEY, {}) or {}
    records = store.decision_records(conn, int(mark.get("seq", 0)))
    for d in bot_decisions(records):
        rate = config.bot_rate(d.kind)
        if rate and is_sampled(d.period, d.kind, d.ref, rate) and sample_id(d.kind, d.ref) not in existing:
            new.append(_sample_row(d, rate, "rate", now))
    if records:
        store.set_meta(META_KEY, {**mark, "seq": records[-1]["seq"]}, conn=conn)
    coder = _coder_decisions(store.exception_rows(conn=conn))
    taken = set(existing) | {r["sample_id"] for r in new}
    per_week: dict[tuple[str, str], list[Decision]] = {}
    for d in coder:
        rate = config.coder.rate_for(d.queue, d.review_level)
        sid = sample_id(d.kind, d.ref)
        if sid not in taken and rate and is_sampled(d.period, d.kind, d.ref, rate):
            new.append(_sample_row(d, rate, "rate", now))
            taken.add(sid)
        per_week.setdefault((d.decided_by, d.period), []).append(d)
    minimum = config.coder.min_per_coder_per_week
    for decisions in per_week.values():
        have = sum(1 for d in decisions if sample_id(d.kind, d.ref) in taken)
        for d in sorted(decisions, key=lambda d: sample_hash(d.period, d.kind, d.ref)):
            if have >= minimum:
                break
            if sample_id(d.kind, d.ref) not in taken:
                new.append(_sample_row(d, config.coder.rate_for(d.queue, d.review_level), "minimum", now))
                taken.add(sample_id(d.kind, d.ref))
                have += 1
    return new


def _qa_problems(s: dict[str, Any], team: Team | None, config: QualityConfig) -> list[str]:
    problems = []
    reviewer, result = _name(s["qa_reviewer"]), _name(s["qa_result"])
    if reviewer and reviewer == _name(s["decided_by"]):
        problems.append(f"QA Reviewer '{reviewer}' made this decision: choose another reviewer")
    elif reviewer and team is not None and not team.has_role(reviewer, Role.QA, Role.SENIOR):
        problems.append(f"QA Reviewer '{reviewer}' is not a qa or senior on the team roster")
    if result and result not in QA_RESULTS:
        problems.append(f"QA Result '{result}' is not Pass or Fail")
    if result and not reviewer:
        problems.append("missing QA Reviewer")
    if result == "Fail":
        missing = [h for f, h in (("finding_category", "Finding Category"), ("qa_note", "QA Note")) if not _name(s[f])]
        if missing:
            problems.append("missing " + " and ".join(missing) + " (a Fail needs both)")
    category = _name(s["finding_category"])
    if category and category not in config.finding_categories:
        problems.append(f"Finding Category '{category}' is not one of the list")
    return problems


def _reviewers(samples: list[dict[str, Any]], team: Team | None, today: date, now: str,
               out: ReviewResult) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Reviewers for open samples without one (or with a bots' choice who is away)."""
    updates, unowned = [], {}
    if team is None:
        return updates, unowned
    pool = team.with_role(Role.QA, Role.SENIOR)
    load: dict[str, int] = {}
    for s in samples:
        if s["bot_status"] == RowState.OPEN and not _name(s["qa_result"]) and _name(s["qa_reviewer"]):
            load[_name(s["qa_reviewer"])] = load.get(_name(s["qa_reviewer"]), 0) + 1
    order = {p.name: i for i, p in enumerate(team.people)}
    for s in samples:
        if s["bot_status"] != RowState.OPEN or _name(s["qa_result"]):
            continue
        current = _name(s["qa_reviewer"])
        by_bot = current and current == _name(s["reviewer_by_bot"])
        person = team.get(current) if current else None
        if current and not (by_bot and (person is None or not person.present(today))):
            continue
        present = [p for p in pool if p.present(today) and p.name != _name(s["decided_by"])]
        if not present:
            unowned[s["sample_id"]] = "No one present can review this sample (a qa or senior who did not decide it)"
            continue
        chosen = min(present, key=lambda p: (load.get(p.name, 0), order[p.name]))
        if current:
            load[current] -= 1
        load[chosen.name] = load.get(chosen.name, 0) + 1
        s.update(qa_reviewer=chosen.name, reviewer_by_bot=chosen.name)
        updates.append({"sample_id": s["sample_id"], "qa_reviewer": chosen.name, "reviewer_by_bot": chosen.name})
        out.audit.append(AuditEntry(action="qa_reviewer_assigned", result="reassigned" if current else "assigned",
                                    bot=QUALITY_BOT, item_ref=s["sample_id"], claim_id=s["claim_id"], ts=now,
                                    detail={"from": current or None, "to": chosen.name,
                                            "decided_by": s["decided_by"]}))
    return updates, unowned


def _follow_up(store: Store, conn: Connection, s: dict[str, Any], rows: dict[str, dict[str, Any]],
               team: Team | None) -> tuple[str, str | None]:
    """Open the Fail's linked exception row; returns its id and, for rework, its owner."""
    finding = f"{s['finding_category']}: {s['qa_note']}"
    if s["kind"] == CODER_KIND:
        original = rows.get(s["item_ref"] or "", {})
        rule, level, owner = REWORK_RULE, s["review_level"] or "Entry", _name(s["decided_by"])
        reason = (f"Rework after QA review (sample {s['sample_id']}, row {s['item_ref']}): {finding}. "
                  f"{owner}'s resolution ({s['decision']}) did not pass; the original row stays as it was left.")
        claim = {"claim_id": s["claim_id"], "payer_id": original.get("payer_id"),
                 "patient_name": original.get("patient"), "date_of_service": original.get("dos"),
                 "total_charge": original.get("amount")}
    else:
        rule, level, owner = OVERTURNED_RULE, "Entry", None
        reason = (f"Overturned in QA (sample {s['sample_id']}): {s['decided_by']} decided '{s['decision']}' under "
                  f"rule {s['rule_id']} version {s['rule_version'] or '-'}; {finding}. Work the claim again.")
        claim = {"claim_id": s["claim_id"]}
    record = ExceptionRecord(queue=s["queue"], rule_id=rule, rule_version=s["rule_version"], reason=reason,
                             detail=s["sample_id"], evidence=s["evidence"], evidence_file=s["evidence_file"],
                             review_level=level, claim_id=s["claim_id"])
    [ex_id] = store.record_exceptions(conn, bot=QUALITY_BOT, item_ref=s["sample_id"], run_id=None,
                                      records=[record], claim=claim, clear_others=False)
    if owner and team is not None and team.get(owner) is not None:
        store.assign_rows(conn, {ex_id: owner})
        return ex_id, owner
    return ex_id, None


def review_pass(store: Store, conn: Connection, readback: ReadBack | None, team: Team | None,
                config: QualityConfig | None, today: date, now: str) -> ReviewResult:
    """Steps 1 to 5 of the module docstring, in the caller's transaction."""
    out = ReviewResult()
    if config is None:
        return out
    samples = store.qa_samples(conn)
    by_id = {s["sample_id"]: s for s in samples}
    updates: list[dict[str, Any]] = []
    held: dict[str, str] = {}
    for sid, seen in (readback.quality.items() if readback else ()):
        s = by_id.get(sid)
        if s is None:
            continue
        if len(seen) > 1 or any(v.get("decision_ref", s["decision_ref"]) != s["decision_ref"] for v in seen):
            held[sid] = (f"Sample ID {sid} belongs to decision {s['decision_ref']} but was shown on "
                         f"{len(seen)} row(s) or beside another decision: the QA entries there were not saved. "
                         "The row is shown again with its own decision: enter them again")
            continue
        changed = {f: seen[0][f] for f in QUALITY_FIELDS if f in seen[0] and seen[0][f] != s[f]}
        if changed and s["bot_status"] == RowState.OPEN:
            s.update(changed, qa_updated_at=now)
            updates.append({"sample_id": sid, **{f: s[f] for f in QUALITY_FIELDS}, "qa_updated_at": now})
            out.audit.append(AuditEntry(action="qa_update", result=s["qa_result"] or "open", bot="workbook",
                                        item_ref=sid, claim_id=s["claim_id"], detail=changed, ts=now))
    new = _sample(store, conn, config, by_id, now)
    store.add_samples(conn, new)
    out.audit.extend(_sampled_audit(r, now) for r in new)
    samples.extend(new)
    for r in new:
        by_id[r["sample_id"]] = r
    store.update_samples(conn, updates)
    reviewer_updates, unowned = _reviewers(samples, team, today, now, out)
    store.update_samples(conn, reviewer_updates)
    rows = {r["exception_id"]: r for r in store.exception_rows(conn=conn)}
    final: list[dict[str, Any]] = []
    for s in samples:
        if s["bot_status"] != RowState.OPEN:
            continue
        check_list = _qa_problems(s, team, config)
        if s["sample_id"] in held:
            check_list.insert(0, held[s["sample_id"]])
        if s["sample_id"] in unowned:
            check_list.append(unowned[s["sample_id"]])
        change: dict[str, Any] = {"bot_check": "; ".join(check_list) or None}
        original = rows.get(s["item_ref"] or "") if s["kind"] == CODER_KIND else None
        result = _name(s["qa_result"])
        if original is not None and original["status"] != CoderStatus.RESOLVED and not result:
            change.update(bot_status=RowState.CLEARED, synced_at=now)  # the decision no longer stands
        elif result and not check_list:
            change.update(bot_status=RowState.SYNCED, synced_at=now)
            if result == "Pass":
                out.audit.append(AuditEntry(action="qa_reviewed", result="pass", bot=QUALITY_BOT,
                                            item_ref=s["sample_id"], claim_id=s["claim_id"], rule_id=s["rule_id"],
                                            rule_version=s["rule_version"], ts=now,
                                            detail={"reviewer": s["qa_reviewer"], "decided_by": s["decided_by"]}))
            elif not s["followup_id"]:
                followup, owner = _follow_up(store, conn, s, rows, team)
                change["followup_id"] = followup
                out.audit.append(AuditEntry(
                    action="qa_failed", result="followup_opened", bot=QUALITY_BOT, item_ref=s["sample_id"],
                    claim_id=s["claim_id"], rule_id=s["rule_id"], rule_version=s["rule_version"], ts=now,
                    detail={"followup": followup, "reviewer": s["qa_reviewer"], "decided_by": s["decided_by"],
                            "category": s["finding_category"], "kind": s["kind"], "owner": owner}))
                if owner:
                    out.audit.append(AuditEntry(action="row_assigned", result="assigned", bot="workbook",
                                                item_ref=followup, claim_id=s["claim_id"], ts=now,
                                                detail={"from": None, "to": owner, "why": "rework"}))
        if any(s.get(k) != v for k, v in change.items()):
            s.update(change)
            final.append({"sample_id": s["sample_id"], "bot_check": s["bot_check"], "bot_status": s["bot_status"],
                          "synced_at": s.get("synced_at"), "followup_id": s.get("followup_id")})
    store.update_samples(conn, final)
    return out
