"""Read-only aggregates for the leaders' dashboard (``bots.core.report``): counts per day, grouped in SQL.

A year of history is a quarter of a million exception rows and a million audit records, so every
method here groups in the database and returns small lists of tuples (one per day and category),
never rows as dicts. Days are the first ten characters of the stored ISO timestamps (UTC); the
report folds days into weeks or months itself, which keeps the SQL the same on SQLite and
PostgreSQL. The only per-row results are durations (turnaround, handoff delay), because a median
cannot be summed: one float and a few short labels a row, and only for the rows in the range.

No method reads a PHI column (``patient``, ``member_id``, ``patient_name``, ``patient_dob``) or
returns a claim id; of the QA samples only kinds, rules, queues, results, categories and the coder
who decided (for the training view) leave the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement, DateTime, case, cast, extract, func, literal, literal_column, or_, select, union_all,
)

from bots.core.lifecycle import RETRY_RESOLUTION, CoderStatus, RowState
from bots.core.store.base import StoreBase
from bots.core.store.rows import RECURRED_CHECK
from bots.core.store.schema import appeals, audit, claims, exceptions, qa_samples, runs, service_lines

__all__ = ["CODER_KIND", "QA_BOT", "DashboardStore", "closed_at"]

ex = exceptions.c
qa = qa_samples.c
CODER_KIND = "coder_resolution"  # bots.core.quality.CODER_KIND (the store does not import the workbook's modules)
QA_BOT = "quality"  # the bot a QA Fail's follow-up row is recorded under (bots.core.workbook.review.QUALITY_BOT)


def _day(column: ColumnElement[Any]) -> ColumnElement[str]:
    """The ISO date of a timestamp column. The bounds are inline SQL, not parameters, so the same
    expression in SELECT and GROUP BY is the same text (PostgreSQL compares them as text)."""
    return func.substr(column, literal_column("1"), literal_column("10"))


def _resolved() -> ColumnElement[bool]:
    """Status Resolved however it was typed (the Summary sheet counts it the same way)."""
    return func.lower(func.trim(func.coalesce(ex.status, ""))) == CoderStatus.RESOLVED.lower()


def _trim(column: ColumnElement[Any]) -> ColumnElement[str]:
    return func.trim(func.coalesce(column, ""))


def closed_at() -> ColumnElement[Any]:
    """When a row stopped needing a person: resolved by a coder (Coder Updated, the merge that read
    the Resolved entry), else cleared by the bots (Last Seen, the run that no longer found it);
    NULL while it is open. Synced rows are Resolved rows, so they close at their resolution."""
    return case((_resolved(), ex.coder_updated_at),
                (ex.bot_status == RowState.CLEARED, ex.last_seen), else_=None)


class DashboardStore(StoreBase):
    def _hours(self, start: ColumnElement[Any], end: ColumnElement[Any]) -> ColumnElement[float]:
        """``end - start`` in hours, for ISO text timestamps."""
        if self.is_sqlite:
            return (func.julianday(end) - func.julianday(start)) * 24.0
        return extract("epoch", cast(end, DateTime()) - cast(start, DateTime())) / 3600.0

    def _all(self, q: Any) -> list[tuple[Any, ...]]:
        with self.read() as conn:
            return [tuple(r) for r in conn.execute(q)]

    # ---- exception rows ---------------------------------------------------------------------------
    def row_flow(self, end: str) -> list[tuple[str, str, str, str, int, int]]:
        """``(event, queue, review_level, day, rows, open now)``: event ``opened`` on the day of First
        Seen (every row; ``open now``: those with :func:`closed_at` NULL), ``closed`` on the day of
        :func:`closed_at` when before ``end``. Open at a moment = opened before it minus closed before it."""
        first_day = _day(ex.first_seen)
        opened = (select(literal("opened"), ex.queue, ex.review_level, first_day, func.count(),
                         func.sum(case((closed_at().is_(None), 1), else_=0)))
                  .group_by(ex.queue, ex.review_level, first_day))
        closed_day = _day(closed_at())
        closed = (select(literal("closed"), ex.queue, ex.review_level, closed_day, func.count(), literal(0))
                  .where(closed_at() < end).group_by(ex.queue, ex.review_level, closed_day))
        return self._all(opened) + self._all(closed)

    def resolutions(self, start: str, end: str) -> list[tuple[Any, ...]]:
        """``(queue, review_level, rule_id, resolved_by, day, hours, recurred, failed_qa)`` per row with
        Status Resolved whose Coder Updated is in ``[start, end)``: hours from First Seen to Coder
        Updated; ``recurred``: the row carries the Bot Check of a resolution that did not hold;
        ``failed_qa``: a reviewed QA sample of this row's resolution by the same coder failed."""
        failed = (select(qa.item_ref, qa.decided_by).distinct()
                  .where(qa.kind == CODER_KIND, qa.bot_status == RowState.SYNCED, _trim(qa.qa_result) == "Fail")
                  .subquery())
        q = (select(ex.queue, ex.review_level, ex.rule_id, ex.resolved_by, _day(ex.coder_updated_at),
                    self._hours(ex.first_seen, ex.coder_updated_at),
                    case((ex.bot_check.like(f"%{RECURRED_CHECK}%"), 1), else_=0),
                    case((failed.c.item_ref.is_(None), 0), else_=1))
             .select_from(exceptions.outerjoin(failed, (failed.c.item_ref == ex.exception_id)
                                               & (failed.c.decided_by == _trim(ex.resolved_by))))
             .where(_resolved(), ex.coder_updated_at >= start, ex.coder_updated_at < end))
        return self._all(q)

    def sync_delays(self, start: str, end: str) -> list[tuple[str, str, float]]:
        """``(queue, day, hours)`` per resolved row applied to billing (Synced, not "Retry by bot") with
        Synced At in ``[start, end)``: hours from Coder Updated to Synced At."""
        q = (select(ex.queue, _day(ex.synced_at), self._hours(ex.coder_updated_at, ex.synced_at))
             .where(_resolved(), ex.bot_status == RowState.SYNCED, ex.synced_at >= start, ex.synced_at < end,
                    or_(ex.resolution.is_(None), ex.resolution != RETRY_RESOLUTION),
                    ex.synced_at >= ex.coder_updated_at))
        return self._all(q)

    def bot_checks(self, kinds: Sequence[tuple[str, str]]) -> list[tuple[str, str, int, str, int]]:
        """``(queue, kind, recurred, day of Last Seen, rows)`` of the rows carrying a Bot Check now.
        ``kinds`` is ``(kind, LIKE pattern)`` tried in order (the rest are ``other``); ``recurred`` is 1
        for a cell holding the Bot Check of a resolution that did not hold (:data:`RECURRED_CHECK`)."""
        kind = case(*((ex.bot_check.like(pattern), name) for name, pattern in kinds), else_="other")
        recurred = case((ex.bot_check.like(f"%{RECURRED_CHECK}%"), 1), else_=0)
        last_day = _day(ex.last_seen)
        q = (select(ex.queue, kind, recurred, last_day, func.count()).where(ex.bot_check.is_not(None), ex.bot_check != "")
             .group_by(ex.queue, kind, recurred, last_day))
        return self._all(q)

    def denial_details(self, start: str, end: str, queue: str) -> list[tuple[str, str, str, int]]:
        """``(payer_id, day, detail, rows)`` of ``queue`` rows first seen in ``[start, end)``. A denial
        row's detail is ``category|word|carc=CO-45,PR-1``: codes, no claim and no PHI."""
        q = (select(func.coalesce(ex.payer_id, ""), _day(ex.first_seen), func.coalesce(ex.detail, ""), func.count())
             .where(ex.queue == queue, ex.first_seen >= start, ex.first_seen < end)
             .group_by(ex.payer_id, _day(ex.first_seen), ex.detail))
        return self._all(q)

    # ---- appeals (table ``appeals``, beside the Appeal Preparation exception rows) -------------------
    APPEAL_EVENTS = (("opened", "opened_at"), ("completed", "completed_at"), ("submitted", "submitted_at"),
                     ("missed", "missed_at"), ("outcome", "outcome_at"))

    def appeal_counts(self, start: str, end: str) -> list[tuple[str, str, str, str, str, int]]:
        """``(event, payer_id, category, outcome, day, appeals)``: appeals whose ``opened_at``,
        ``completed_at``, ``submitted_at``, ``missed_at`` or ``outcome_at`` (each set once, with its
        audit record) falls in ``[start, end)``; ``outcome`` (won or upheld) only for event ``outcome``."""
        a = appeals.c
        parts = []
        for event, col in self.APPEAL_EVENTS:
            day = _day(a[col])
            keys = [a.payer_id, a.category, day] + ([a.outcome] if event == "outcome" else [])
            outcome = func.coalesce(a.outcome, "") if event == "outcome" else literal_column("''")
            parts.append(select(literal_column(f"'{event}'"), func.coalesce(a.payer_id, ""), a.category, outcome, day,
                                func.count()).where(a[col] >= start, a[col] < end).group_by(*keys))
        return self._all(union_all(*parts))

    def appeals_opened_ever(self) -> int:
        """How many appeals were ever opened (rows of ``appeals``)."""
        return int(self._all(select(func.count()).select_from(appeals))[0][0])

    def open_appeal_evidence(self) -> list[tuple[Any, ...]]:
        """``(payer_id, category, items, checklist, letter_ref, submitted_on, submission_ref)`` of each
        appeal still open now: its Appeal Preparation row neither applied to billing (Synced) nor cleared.
        The checklist and submission cells only: no claim id, no PHI."""
        a = appeals.c
        q = (select(func.coalesce(a.payer_id, ""), a.category, a["items"], a.checklist, a.letter_ref, a.submitted_on,
                    a.submission_ref)
             .join_from(appeals, exceptions, ex.exception_id == a.appeal_id)
             .where(ex.bot_status.not_in([RowState.SYNCED, RowState.CLEARED])))
        return self._all(q)

    def appeal_delays(self, start: str, end: str) -> list[tuple[str, str, float]]:
        """``(payer_id, day, hours)`` per appeal opened in ``[start, end)``: hours from its source row's
        First Seen (when the bots read the denial) to ``appeals.opened_at`` (the appeal_opened record)."""
        a = appeals.c
        q = (select(func.coalesce(a.payer_id, ""), _day(a.opened_at), self._hours(ex.first_seen, a.opened_at))
             .join_from(appeals, exceptions, ex.exception_id == a.source_id)
             .where(a.opened_at >= start, a.opened_at < end))
        return self._all(q)

    def followup_rows(self, start: str, end: str, rules: Sequence[str]) -> list[tuple[str, str, str, int]]:
        """``(rule_id, queue, day, rows)`` of the rows a QA Fail opened (bot ``quality``) with one of
        ``rules`` (QA-REWORK, QA-OVERTURNED), by the day of First Seen in ``[start, end)``."""
        q = (select(ex.rule_id, ex.queue, _day(ex.first_seen), func.count())
             .where(ex.bot == QA_BOT, ex.rule_id.in_(list(rules)), ex.first_seen >= start, ex.first_seen < end)
             .group_by(ex.rule_id, ex.queue, _day(ex.first_seen)))
        return self._all(q)

    # ---- QA samples ----------------------------------------------------------------------------
    def qa_sample_total(self) -> int:
        """Samples stored, whenever drawn (0: quality sampling has never drawn one)."""
        with self.read() as conn:
            return int(conn.execute(select(func.count()).select_from(qa_samples)).scalar_one())

    def qa_counts(self, start: str, end: str) -> list[tuple[Any, ...]]:
        """``(event, kind, result, category, rule_id, rule_version, queue, review_level, coder, day,
        samples)`` from ``qa_samples``, in one pass:

        - ``drawn``: samples whose Sampled At is in ``[start, end)`` (the ``qa_sampled`` record's ts);
        - ``reviewed``: samples whose review completed in ``[start, end)``: Bot Status Synced with QA
          Result Pass or Fail, at Synced At (the ts of their ``qa_reviewed`` or ``qa_failed`` record),
          with the Finding Category of a Fail;
        - ``open``: samples awaiting review now (Bot Status Open), whenever drawn.

        A bot decision is labelled by its rule id and version (its queue follows from its kind), a
        coder resolution by its queue, review level and ``coder``, the person who decided; the other
        labels are blank, so neither kind is split by labels it does not have."""
        is_coder = qa.kind == CODER_KIND

        def bot_only(column: ColumnElement[Any]) -> ColumnElement[str]:
            return case((is_coder, ""), else_=func.coalesce(column, ""))

        def coder_only(column: ColumnElement[Any]) -> ColumnElement[str]:
            return case((is_coder, _trim(column)), else_="")

        result = _trim(qa.qa_result)
        category = case((result == "Fail", _trim(qa.finding_category)), else_="")
        labels = (qa.kind, bot_only(qa.rule_id), bot_only(qa.rule_version), coder_only(qa.queue),
                  coder_only(qa.review_level), coder_only(qa.decided_by))

        def part(event: str, when: ColumnElement[Any], where: Sequence[ColumnElement[bool]],
                 outcome: tuple[ColumnElement[Any], ...] = ()) -> Any:
            day = _day(when)
            res, cat = outcome or (literal(""), literal(""))
            return (select(literal(event), labels[0], res, cat, *labels[1:], day, func.count()).where(*where)
                    .group_by(*labels, *outcome, day))  # not the constants: PostgreSQL refuses them there

        drawn = part("drawn", qa.sampled_at, (qa.sampled_at >= start, qa.sampled_at < end))
        reviewed = part("reviewed", qa.synced_at,
                        (qa.bot_status == RowState.SYNCED, result.in_(("Pass", "Fail")), qa.synced_at >= start,
                         qa.synced_at < end), (result, category))
        open_now = part("open", qa.sampled_at, (qa.bot_status == RowState.OPEN,))
        return self._all(union_all(drawn, reviewed, open_now))

    # ---- claims --------------------------------------------------------------------------------
    def final_reads(self, start: str, end: str) -> list[tuple[str, str, str, int]]:
        """``(payer_id, day, X12 category, claims)`` of claims whose final portal read (an F
        category: adjudicated, not looked up again) happened in ``[start, end)``."""
        q = (select(claims.c.payer_id, _day(claims.c.status_checked_at), claims.c.status_category, func.count())
             .where(claims.c.final.is_(True), claims.c.status_category.like("F%"),
                    claims.c.status_checked_at >= start, claims.c.status_checked_at < end)
             .group_by(claims.c.payer_id, _day(claims.c.status_checked_at), claims.c.status_category))
        return self._all(q)

    # ---- audit trail ---------------------------------------------------------------------------
    def audit_counts(self, start: str, end: str, actions: Sequence[str | tuple[str, str]],
                     ) -> list[tuple[str, str, str, str, str, int]]:
        """``(action, bot, result, rule_id, day, records)`` of the audit records timed in ``[start,
        end)`` with one of ``actions`` (an ``(action, result)`` pair: only records with that result,
        e.g. failed rule verdicts out of the many passes): one pass over the trail."""
        a = audit.c
        wanted = [a.action == x if isinstance(x, str) else (a.action == x[0]) & (a.result == x[1]) for x in actions]
        cols = (a.action, func.coalesce(a.bot, ""), func.coalesce(a.result, ""), func.coalesce(a.rule_id, ""),
                _day(a.ts))
        q = select(*cols, func.count()).where(or_(*wanted), a.ts >= start, a.ts < end).group_by(*cols)
        return self._all(q)

    def scan_counts(self, bot: str, start: str, end: str) -> list[tuple[str, str, str, int]]:
        """``(kind, day, result, count)`` from ``bot``'s ``item_outcome`` records, in one pass over the trail:

        - ``first``: items whose first such record (lowest seq: their first pass) is timed in
          ``[start, end)``, by that record's day and result;
        - ``lines``: the stored service lines of the claim of every such record timed in ``[start,
          end)`` (a claim scanned twice counts twice), by day (``result`` blank).
        """
        a = audit.c
        outcomes = select(a.seq, a.item_ref, a.ts, a.result).where(a.bot == bot, a.action == "item_outcome").cte("outcomes")
        o = outcomes.c
        first = select(func.min(o.seq).label("seq")).group_by(o.item_ref).subquery()
        in_range = (o.ts >= start, o.ts < end)
        firsts = (select(literal("first"), _day(o.ts), o.result, func.count())
                  .join_from(outcomes, first, o.seq == first.c.seq).where(*in_range).group_by(_day(o.ts), o.result))
        lines = (select(literal("lines"), _day(o.ts), literal(""), func.count())
                 .join_from(outcomes, service_lines, service_lines.c.claim_key == o.item_ref).where(*in_range)
                 .group_by(_day(o.ts)))
        return self._all(union_all(firsts, lines))

    # ---- runs ----------------------------------------------------------------------------------
    _DASHBOARD_RUN_SUMS = ("items", "done", "exceptions", "failed", "carried_over", "retries")  # not ReportStore._RUN_SUMS

    def run_counts(self, start: str, end: str) -> list[tuple[Any, ...]]:
        """``(bot, day, status, runs, items, done, exceptions, failed, carried_over, retries)`` of the
        runs started in ``[start, end)``."""
        r = runs.c
        q = (select(r.bot, _day(r.started_at), r.status, func.count(),
                    *(func.coalesce(func.sum(r[c]), 0) for c in self._DASHBOARD_RUN_SUMS))
             .where(r.started_at >= start, r.started_at < end)
             .group_by(r.bot, _day(r.started_at), r.status))
        return self._all(q)

