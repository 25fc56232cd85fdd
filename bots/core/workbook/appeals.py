"""The Appeal Preparation sheet's merge: appeals opened, their evidence read back, deadlines watched,
completion, submission and outcome recorded, each an audit record (``bots audit show CLAIM``).

An appeal is an exception row (queue Appeal Preparation, bot ``appeals``, its Denials or Payment
Variances row as the item, so reruns never open a second) plus its own facts in the store
(``Store.appeals``). Within each merge, in its transaction:

1. ``merge_appeal_edits`` (before the exception rows): the checklist and submission cells read back
   are stored (``appeal_update``);
2. ``appeal_problems`` (with the other Bot Check rules): a row resolved *Appeal submitted* needs
   every document of its checklist, Appeal Letter Ref, Submitted On and Submission Ref; so a
   missing piece holds it back from billing;
3. ``appeal_pass`` (after the exception rows): a source row resolved with an appeal resolution and
   ready (or synced) opens its appeal (``appeal_opened``) with the deadline from the payer's window
   and the date the last portal read showed; an open appeal with gaps within ``near_deadline_days``
   becomes Senior and High (``appeal_escalated``); one past its deadline and not submitted in time
   is flagged (``appeal_deadline_missed``); a complete one is recorded (``appeal_complete``), and
   once status_sync applied it (the row Synced) ``appeal_submitted``; a later portal read of the
   claim records the outcome (``appeal_outcome``: F1 paid → won, F2/F4 still denied → upheld).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection

from bots.core.appeals import AppealsConfig, deadline
from bots.core.claims import claim_key
from bots.core.errors import ExceptionRecord
from bots.core.lifecycle import APPEAL_PREPARATION, CoderStatus, RowState, ready_to_sync
from bots.core.payers import Payers
from bots.core.store import AuditEntry, Store
from bots.core.workbook.layout import (
    APPEAL_BOT_COLUMNS, APPEAL_DOC_PREFIX, APPEAL_EVIDENCE_COLUMNS, APPEAL_OUTCOME, APPEAL_SUBMITTED,
)
from bots.core.workbook.reader import ReadBack

__all__ = ["APPEALS_BOT", "APPEAL_RULE", "SOURCE_QUEUES", "appeal_gaps", "appeal_pass", "appeal_problems",
           "appeal_view", "merge_appeal_edits"]

APPEALS_BOT = "appeals"
APPEAL_RULE = "APPEAL-PREP"
SOURCE_QUEUES = ("Denials", "Payment Variances")
EVIDENCE_FIELDS = (("letter_ref", "Appeal Letter Ref"), ("submitted_on", "Submitted On"),
                   ("submission_ref", "Submission Ref"))
_TICKED = {"yes", "y", "x", "true", "done"}
_CARC_IN_DETAIL = re.compile(r"carc=([^|]*)")
# X12 categories of a read after the appeal went in: paid means the appeal was won; still denied
# (or finalized without payment) means the payer upheld its denial. Others decide nothing yet.
OUTCOMES = {"F1": "won", "F2": "upheld", "F4": "upheld"}


def _items(appeal: dict[str, Any]) -> list[str]:
    return list(json.loads(appeal["items"] or "[]"))


def _checklist(appeal: dict[str, Any]) -> dict[str, str]:
    return dict(json.loads(appeal["checklist"] or "{}"))


def appeal_gaps(appeal: dict[str, Any]) -> list[str]:
    """What the appeal still lacks: unticked documents, then missing submission details (headers)."""
    ticked = _checklist(appeal)
    gaps = [APPEAL_DOC_PREFIX + i for i in _items(appeal) if (ticked.get(i) or "").strip().lower() not in _TICKED]
    return gaps + [header for name, header in EVIDENCE_FIELDS if not (appeal[name] or "").strip()]


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def appeal_problems(row: dict[str, Any], appeal: dict[str, Any] | None) -> list[str]:
    """Bot Check for an Appeal Preparation row resolved *Appeal submitted* without all its evidence.
    (Starts with "missing ", so each merge recomputes it: it goes once the evidence is in.)"""
    if appeal is None or row["status"] != CoderStatus.RESOLVED or row["resolution"] != APPEAL_SUBMITTED:
        return []
    gaps = appeal_gaps(appeal)
    return ["missing appeal evidence: " + _join(gaps) + " (every document and the submission details are "
            "needed to close an appeal)"] if gaps else []


def merge_appeal_edits(store: Store, conn: Connection, readback: ReadBack | None,
                       now: str) -> tuple[dict[str, dict[str, Any]], list[AuditEntry]]:
    """Step 1: the checklist and submission cells of the file into the store. Returns every appeal
    by id (as now stored) and the audit records. An id shown on more than one row merges nothing
    (``identity`` gives those rows their Bot Check)."""
    appeals = {a["appeal_id"]: a for a in store.appeals(conn)}
    audit: list[AuditEntry] = []
    for appeal_id, seen in (readback.appeals.items() if readback else ()):
        a = appeals.get(appeal_id)
        if a is None or len(seen) != 1:
            continue
        values = seen[0]
        changed: dict[str, Any] = {}
        checklist = _checklist(a)
        for item in _items(a):
            key = APPEAL_DOC_PREFIX + item
            if key in values and values[key] != checklist.get(item):
                checklist[item] = values[key]
                changed[key] = values[key]
        for name, _header in EVIDENCE_FIELDS:
            if name in values and values[name] != a[name]:
                changed[name] = a[name] = values[name]
        if not changed:
            continue
        a["checklist"] = json.dumps({k: v for k, v in checklist.items() if v}, sort_keys=True)
        a["appeal_updated_at"] = now
        store.update_appeals(conn, [{"appeal_id": appeal_id, "checklist": a["checklist"], "letter_ref": a["letter_ref"],
                                     "submitted_on": a["submitted_on"], "submission_ref": a["submission_ref"],
                                     "appeal_updated_at": now}])
        audit.append(AuditEntry(action="appeal_update", result="updated", bot="workbook", item_ref=appeal_id,
                                claim_id=a["claim_id"], detail=changed, ts=now))
    return appeals, audit


@dataclass
class AppealResult:
    opened: list[str] = field(default_factory=list)  # exception ids of the rows opened by this pass
    raised: list[str] = field(default_factory=list)  # rows turned Senior/High by this pass
    audit: list[AuditEntry] = field(default_factory=list)


def _carc(row: dict[str, Any], read: dict[str, Any]) -> list[str]:
    codes = [c.get("code", "") for c in read.get("carc") or [] if isinstance(c, dict)]
    if not codes:
        m = _CARC_IN_DETAIL.search(row["detail"] or "")
        codes = [c for c in (m.group(1).split(",") if m else []) if c]
    return codes


def _open(store: Store, conn: Connection, row: dict[str, Any], config: AppealsConfig, payers: Payers | None,
          now: str, out: AppealResult) -> dict[str, Any]:
    key = claim_key(row["payer_id"] or "", row["claim_id"])
    record = store.last_portal_read(conn, key) if row["claim_id"] else None
    read = json.loads(record["detail"] or "{}") if record else {}
    carc = _carc(row, read)
    category, cat = config.category(carc)
    payer = (row["payer_id"] or "").lower()
    window = payers[payer].common.appeals if payers is not None and payer in payers else None
    due = deadline(window, payer or "?", read)
    shown_codes = ", ".join(carc) or "no CARC codes shown"
    reason = (f"Prepare the appeal decided on {row['queue']} row {row['exception_id']} ({row['resolution']}): "
              f"{category} ({shown_codes}). Deadline "
              f"{due.due.isoformat() if due.due else 'unknown'}: {due.basis}. Documents: {', '.join(cat.items)}. "
              f"Mark each Yes when in hand, fill Appeal Letter Ref, Submitted On and Submission Ref, then resolve "
              f"it {APPEAL_SUBMITTED}.")
    rec = ExceptionRecord(queue=APPEAL_PREPARATION, rule_id=APPEAL_RULE, rule_version="1", reason=reason,
                          detail=row["exception_id"], evidence=f"{row['resolution']}: {row['resolution_note'] or ''}",
                          claim_id=row["claim_id"])
    claim = {"claim_id": row["claim_id"], "payer_id": row["payer_id"], "patient_name": row["patient"],
             "date_of_service": row["dos"], "total_charge": row["amount"]}
    [appeal_id] = store.record_exceptions(conn, bot=APPEALS_BOT, item_ref=row["exception_id"], run_id=None,
                                          records=[rec], claim=claim, clear_others=False)
    appeal = {"appeal_id": appeal_id, "source_id": row["exception_id"], "claim_id": row["claim_id"],
              "payer_id": row["payer_id"], "category": category, "carc": ",".join(carc),
              "counted_from": due.counted_from.isoformat() if due.counted_from else None,
              "deadline": due.due.isoformat() if due.due else None, "basis": due.basis,
              "items": json.dumps(cat.items), "opened_at": now,
              **dict.fromkeys(("checklist", "letter_ref", "submitted_on", "submission_ref", "appeal_updated_at",
                               "escalated_at", "missed_at", "completed_at", "submitted_at", "outcome", "outcome_at",
                               "outcome_seq"))}
    store.add_appeals(conn, [appeal])
    out.opened.append(appeal_id)
    out.audit.append(AuditEntry(action="appeal_opened", result=category, bot=APPEALS_BOT, item_ref=appeal_id,
                                claim_id=row["claim_id"], rule_id=APPEAL_RULE, ts=now,
                                detail={"source": row["exception_id"], "resolution": row["resolution"],
                                        "carc": carc, "deadline": appeal["deadline"], "basis": due.basis,
                                        "items": cat.items, "portal_read_seq": record["seq"] if record else None}))
    return appeal


def _days_left(appeal: dict[str, Any], today: date) -> int | None:
    return (date.fromisoformat(appeal["deadline"]) - today).days if appeal["deadline"] else None


def _in_time(appeal: dict[str, Any]) -> bool:
    try:
        return bool(appeal["submitted_on"]) and date.fromisoformat(appeal["submitted_on"][:10]) <= date.fromisoformat(
            appeal["deadline"])
    except ValueError:
        return False


def appeal_pass(store: Store, conn: Connection, rows: list[dict[str, Any]], appeals: dict[str, dict[str, Any]],
                config: AppealsConfig | None, payers: Payers | None, today: date, now: str) -> AppealResult:
    """Step 3 of the module docstring; ``appeals`` (from step 1) gains the appeals opened here, ``rows``
    their exception rows."""
    out = AppealResult()
    if config is None:
        return out
    sources = {a["source_id"] for a in appeals.values()}
    for row in rows:
        if (row["queue"] in SOURCE_QUEUES and row["resolution"] in config.opened_by
                and row["exception_id"] not in sources
                and (ready_to_sync(row)
                     or (row["bot_status"] == RowState.SYNCED and row["status"] == CoderStatus.RESOLVED))):
            appeal = _open(store, conn, row, config, payers, now, out)
            appeals[appeal["appeal_id"]] = appeal
    by_id = {r["exception_id"]: r for r in rows}
    if out.opened:  # the new rows go into this write
        new = [r for r in store.exception_rows(conn=conn, queue=APPEAL_PREPARATION) if r["exception_id"] in out.opened]
        rows.extend(new)
        by_id.update((r["exception_id"], r) for r in new)
    updates: list[dict[str, Any]] = []
    for a in appeals.values():
        row = by_id.get(a["appeal_id"])
        if row is None:
            continue
        mark: dict[str, Any] = {}
        entry = {"bot": APPEALS_BOT, "item_ref": a["appeal_id"], "claim_id": a["claim_id"], "ts": now}
        submitting = row["resolution"] == APPEAL_SUBMITTED and row["status"] == CoderStatus.RESOLVED
        done = row["bot_status"] == RowState.SYNCED
        days = _days_left(a, today)
        gaps = appeal_gaps(a)
        if not done and days is not None and days < 0 and not _in_time(a) and not a["missed_at"]:
            mark["missed_at"] = now
            out.audit.append(AuditEntry(action="appeal_deadline_missed", result="missed",
                                        detail={"deadline": a["deadline"], "submitted_on": a["submitted_on"],
                                                "gaps": gaps}, **entry))
        elif (not done and days is not None and 0 <= days <= config.near_deadline_days and gaps
              and not a["escalated_at"]):
            mark["escalated_at"] = now
            out.raised.append(a["appeal_id"])
            out.audit.append(AuditEntry(action="appeal_escalated", result="Senior", detail={
                "deadline": a["deadline"], "days_left": days, "gaps": gaps,
                "near_deadline_days": config.near_deadline_days}, **entry))
        if submitting and not gaps and (ready_to_sync(row) or done) and not a["completed_at"]:
            mark["completed_at"] = now
            out.audit.append(AuditEntry(action="appeal_complete", result="complete", detail={
                "items": _checklist(a), "letter_ref": a["letter_ref"], "submitted_on": a["submitted_on"],
                "submission_ref": a["submission_ref"], "resolved_by": row["resolved_by"]}, **entry))
        if submitting and done and not a["submitted_at"]:
            mark["submitted_at"] = row["synced_at"] or now
            out.audit.append(AuditEntry(action="appeal_submitted", result="synced", detail={
                "submission_ref": a["submission_ref"], "synced_at": row["synced_at"]}, **entry))
        submitted_at = mark.get("submitted_at") or a["submitted_at"]
        if submitted_at and not a["outcome"] and a["claim_id"]:
            for read in store.portal_reads(conn, claim_key(a["payer_id"] or "", a["claim_id"]), submitted_at):
                outcome = OUTCOMES.get(read["result"] or "")
                if outcome:
                    mark.update(outcome=outcome, outcome_at=read["ts"], outcome_seq=read["seq"])
                    out.audit.append(AuditEntry(action="appeal_outcome", result=outcome, detail={
                        "category": read["result"], "portal_read_seq": read["seq"], "read_at": read["ts"],
                        "submission_ref": a["submission_ref"]}, **entry))
                    break
        if mark:
            a.update(mark)
            updates.append({"appeal_id": a["appeal_id"], **mark})
    store.update_appeals(conn, updates)
    store.raise_appeal_rows(conn, out.raised)
    for appeal_id in out.raised:
        by_id[appeal_id].update(review_level="Senior", priority="High", written_at=None)
    return out


def appeal_view(row: dict[str, Any], appeal: dict[str, Any] | None, items: list[str],
                today: date) -> dict[str, Any]:
    """The row as the Appeal Preparation sheet shows it: the exception row and the appeal's cells."""
    if appeal is None:  # a row in this queue without its appeal's facts still shows (and never breaks the write)
        blank = (*APPEAL_BOT_COLUMNS, *APPEAL_EVIDENCE_COLUMNS, APPEAL_OUTCOME)
        return {**row, **{c.field: None for c in blank}, "appeal_gaps": [], "appeal_missed": False,
                **{APPEAL_DOC_PREFIX + i: None for i in items}}
    needed, ticked = _items(appeal), _checklist(appeal)
    days = _days_left(appeal, today)
    flag = "deadline missed" if appeal["missed_at"] else ("near deadline" if appeal["escalated_at"] else None)
    return {**row, "source_id": appeal["source_id"], "category": appeal["category"], "carc": appeal["carc"],
            "counted_from": appeal["counted_from"], "deadline": appeal["deadline"], "days_left": days,
            "deadline_flag": flag, "letter_ref": appeal["letter_ref"], "submitted_on": appeal["submitted_on"],
            "submission_ref": appeal["submission_ref"], "outcome": appeal["outcome"],
            "appeal_gaps": appeal_gaps(appeal), "appeal_missed": bool(appeal["missed_at"]),
            **{APPEAL_DOC_PREFIX + i: (ticked.get(i) if i in needed else "n/a") for i in items}}
