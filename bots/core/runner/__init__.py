"""The run loop every bot uses.

claim items with a lease → process (retrying SystemFaults in-process) → settle
each outcome or error (``lifecycle.settle``) and record it, its exceptions, its
intents and audit records in one transaction → finish the run record.
SIGINT/SIGTERM stop cleanly: the item in hand finishes, the rest stay
claimable. Items of a crashed run are recovered at the start of the next one.

A run starts by reading the coders' edits from the workbook (``merge_coder_edits``), so what
they asked for since the last write (a Bot Failures row sent back with "Retry by bot", a
resolution to apply) is in the store before the bot enqueues: a requeue takes effect in the run
that reads it, not the one after.

Before the first claim, the bot's optional ``preflight`` checks the run's setup
(``bots.core.preflight``): a problem fails the run with every problem named, and
no item is touched. A site that stops answering mid-run (``SiteOutage``) carries
its items over untouched and the run ends ``degraded``, naming the site.

A bot reports a business exception by returning ``Outcome.exceptions`` or by
raising ``BusinessException``; the runner turns the second into the first, so
both are recorded the same way, intents included. What a bot gets and returns (the
contexts, ``Outcome``, the ``Bot`` protocol) is in ``bots.core.runner.context``.

Size: about 490 lines, kept as one module on purpose: the run's stages (recover, merge, enqueue,
preflight, the worker loop, the batched commit, finish) share ``_Run``'s counters and the one
transaction per batch, and reading them in order is how an operator's question about a run is
answered. What stands apart already lives beside it (``context``, ``processes``, the settle rules
in ``lifecycle``, the commit's payloads in the store).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from structlog.contextvars import bind_contextvars, reset_contextvars

from bots.core.errors import (
    BusinessException, ExceptionRecord, ItemDeferred, SetupError, SetupProblem, SiteOutage, SiteUnreachable,
    SystemFault,
)
from bots.core.evidence import sha256_file
from bots.core.lifecycle import (
    BOT_FAILURES, ItemEvent, RunStatus, Settled, Settlement, item_sources, retry_in_process, settle,
)
from bots.core.logging import get_logger, phi_values
from bots.core.retrying import retry_policy
from bots.core.runner.context import Bot, ItemContext, Outcome, RunContext, RunResult
from bots.core.runner.processes import HelperReport, WorkerProcesses
from bots.core.settings import RetryConfig, Settings
from bots.core.store import (
    AuditEntry, ClaimedItem, ClaimStatusRead, ExceptionBatchEntry, Intent, ItemStateChange, RowSynced, StatusUpdate,
    Store,
)

__all__ = [
    "Bot", "ClaimStatusRead", "ItemContext", "Outcome", "RowSynced", "RunContext", "RunResult", "StatusUpdate",
    "BOT_FAILURES", "run_bot",
]

log = get_logger("bots.runner")


@dataclass
class _Done:
    """One processed item: the bot's outcome, or the error it ended with."""

    item: ClaimedItem
    ctx: ItemContext
    outcome: Outcome | None = None
    error: BaseException | None = None
    raised: BusinessException | None = None  # the outcome came as a raise: kept as the item's last error


@dataclass
class _BatchWrites:
    """A batch's store writes, collected item by item and written with a few executemany calls."""

    states: list[ItemStateChange] = field(default_factory=list)
    exceptions: list[ExceptionBatchEntry] = field(default_factory=list)
    exception_sinks: list[dict[str, Any] | None] = field(default_factory=list)  # audit details awaiting ids
    intents: list[Intent] = field(default_factory=list)

    def record_exceptions(self, item_ref: str, records: Sequence[ExceptionRecord], claim: dict[str, Any] | None,
                          sink: dict[str, Any] | None) -> None:
        self.exceptions.append(ExceptionBatchEntry(item_ref, records, claim))
        self.exception_sinks.append(sink)


class _Run:
    def __init__(self, bot: Bot, ctx: RunContext, retry: RetryConfig, progress: Callable[[int, int], None] | None):
        self.bot = bot
        self.ctx = ctx
        self.store = ctx.store
        self.retry = retry
        self.progress = progress
        self.counts = {"items": 0, "done": 0, "exceptions": 0, "failed": 0, "deferred": 0, "retried": 0, "retries": 0}
        self._lock = threading.Lock()
        self.total = 0
        self.crash: BaseException | None = None
        self.outages: dict[str, str] = {}  # site → why it is down: its items were carried over
        self.carried = 0  # items carried over because of a site outage
        # One retry policy for the run (tenacity keeps its state per thread); the item in hand
        # reaches its log lines through structlog's context variables.
        self.policy = retry_policy(retry, on_retry=self.on_retry, run_id=ctx.run_id, bot=ctx.bot)
        # Per-item "finished" lines: info by default; a bot that finishes tens of thousands of items
        # a run may declare ``item_log_level = "debug"``, and bots.toml
        # ``[bots.<bot>.options] item_log_level`` overrides either.
        level = str(ctx.config.options.get("item_log_level") or getattr(bot, "item_log_level", "info")).lower()
        self.item_level = level if level in ("debug", "info") else "info"
        self.item_logging = logging.getLogger(f"bots.{ctx.bot}").isEnabledFor(
            logging.DEBUG if self.item_level == "debug" else logging.INFO)

    def _item_event(self, ctx: ItemContext, event: str, **kw: Any) -> None:
        if self.item_logging:
            getattr(ctx.log, self.item_level)(event, **kw)

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def absorb(self, report: HelperReport) -> None:
        """A helper process's share of the run (``bots.core.runner.processes``)."""
        with self._lock:
            for key, n in report.counts.items():
                self.counts[key] = self.counts.get(key, 0) + n
            for site, why in report.outages.items():
                self.outages.setdefault(site, why)
            self.carried += report.carried
            if report.crash is not None and self.crash is None:
                self.crash = RuntimeError(report.crash)
        for note in report.notes:
            self.ctx.note(note)

    def on_retry(self, _exc: BaseException, _attempt: int) -> None:
        self._count("retries")
        self.store.add_retries(self.ctx.run_id)

    def process_one(self, item: ClaimedItem) -> _Done:
        ictx = ItemContext(self.ctx, item)
        claim = ictx.claim
        with phi_values(claim.phi() if claim else ()):
            tokens = bind_contextvars(item=item.reference)
            try:
                return _Done(item, ictx, outcome=self._process(item, ictx))
            except BusinessException as exc:  # the same as returning these exceptions: one path from here
                return _Done(item, ictx, outcome=Outcome(exceptions=exc.records, intents=exc.intents), raised=exc)
            except SiteUnreachable as exc:  # no answer past the retry budget: the site is out, not the item
                site = exc.site or "a site"
                return _Done(item, ictx, error=SiteOutage(site, f"{site} stopped answering ({exc})",
                                                           screenshot=exc.screenshot))
            except (SystemFault, ItemDeferred) as exc:
                return _Done(item, ictx, error=exc)
            except Exception as exc:  # a bug or an untranslated library error: a system fault
                ictx.log.exception("unexpected_error", error_type=type(exc).__name__)
                return _Done(item, ictx, error=exc)
            finally:
                reset_contextvars(**tokens)

    def _process(self, item: ClaimedItem, ictx: ItemContext) -> Outcome:
        """``bot.process`` under the run's retry policy. The first try is a plain call: most items
        never fault, and tenacity's bookkeeping cost a third of a fast bot's time per item. A fault
        the policy retries is handed to it as the first of its attempts, so attempts, waits, the
        retry log and the run's retry count are exactly as if tenacity had made the first call."""
        try:
            return self.bot.process(item, ictx)
        except BaseException as exc:
            if not retry_in_process(exc):
                raise
            first: list[BaseException] = [exc]

        def attempt() -> Outcome:
            if first:
                raise first.pop()
            return self.bot.process(item, ictx)

        return self.policy(attempt)

    def commit(self, batch: Sequence[_Done]) -> None:
        """Record a batch's outcomes in one transaction: item states, exceptions, the outcomes'
        intents, then the audit records, in that order (as item by item, but each kind written
        in bulk). What needs no database (settling, Exception IDs, the audit records' JSON) is
        done before the transaction, so other robots on the queue wait for the writes only."""
        ctx, store = self.ctx, self.store
        audit: list[AuditEntry] = []
        pending = _BatchWrites()
        for d in batch:
            if d.error is None and not self.item_logging:  # nothing to log, so nothing to mask
                self._record(d, audit, pending)
                continue
            with phi_values(d.ctx.claim.phi() if d.ctx.claim else ()):
                self._record(d, audit, pending)
        for sink, entry in zip(pending.exception_sinks, pending.exceptions, strict=True):
            if sink is not None:
                sink["exception_ids"] = entry.ids(ctx.bot)
        prepared = store.prepare_audit(audit)
        with store.begin() as conn:
            store.record_exceptions_many(conn, bot=ctx.bot, run_id=ctx.run_id, entries=pending.exceptions)
            store.set_item_states(conn, pending.states)
            store.apply_intents(conn, pending.intents)
            store.append_audit(conn, prepared)
        ctx.forget_claims([d.item.claim_key for d in batch])

    def _record(self, d: _Done, audit: list[AuditEntry], pending: _BatchWrites) -> None:
        """Settle one item: ``lifecycle.settle`` decides, this queues the writes it implies."""
        item, out, err = d.item, d.outcome, d.error
        ended = out if out is not None else err
        assert ended is not None
        settled = settle(ended, attempts=item.attempts, max_attempts=self.ctx.config.max_attempts)
        audit.extend(d.ctx.audit_entries)
        detail: dict[str, Any] | None
        if out is not None or settled.bot_failure:
            # An outcome also Clears the item's rows that no longer occur, so it is recorded even
            # with no rows; an error that is not yet final leaves the rows as they are.
            records = [self._bot_failure(d, err)] if err is not None else out.exceptions  # type: ignore[union-attr]
            detail = {"exception_ids": []} if records else None  # the ids are filled in at flush
            if err is not None:
                detail = {"error": _described(err), "exception_ids": []}
            claim = d.ctx.claim
            pending.record_exceptions(item.reference, records, claim.summary() if claim and records else None, detail)
            pending.intents.extend(out.intents if out is not None else ())
        elif settled.kind is Settlement.DEFERRED:
            detail = {"reason": str(err)}
        elif isinstance(err, SiteOutage):
            detail = {"site": err.site, "error": _described(err)}
            with self._lock:
                self.outages.setdefault(err.site, str(err))
                self.carried += 1
        else:
            detail = {"error": _described(err), "attempt": item.attempts}
        pending.states.append(ItemStateChange(
            item, settled.state, error=err or d.raised, not_before=settled.not_before,
            result=out.result if out is not None and d.raised is None else None,
            refund_attempt=settled.refund_attempt))
        shot = getattr(err, "screenshot", None) if settled.bot_failure else None
        audit.append(self._outcome_audit(d, settled.audit_result, detail, evidence=shot))
        self._count(settled.kind.counter)
        self._log_settled(d, settled)

    def _bot_failure(self, d: _Done, err: BaseException) -> ExceptionRecord:
        """The Bot Failures row for an item the bots gave up on: a person does it by hand."""
        item, claim = d.item, d.ctx.claim
        shot = getattr(err, "screenshot", None)
        return ExceptionRecord(
            queue=BOT_FAILURES, rule_id="BOT-FAILURE", rule_version="1",
            reason=_described(err)[:500] + (
                f" (after {item.attempts} attempt(s)); please do this one by hand"),
            detail=item.reference, evidence=f"attempts={item.attempts}",
            evidence_file=str(shot) if shot else None, priority="High",
            # The row names its claim even when the claim is not in the store.
            claim_id=None if claim or not item.claim_key else item.claim_key.split(":", 1)[-1])

    def _log_settled(self, d: _Done, settled: Settled) -> None:
        item, err, cfg = d.item, d.error, self.ctx.config
        kind = settled.kind
        if d.raised is not None:
            self._item_event(d.ctx, "item_finished", state=settled.state, rule_id=d.raised.records[0].rule_id)
        elif kind in (Settlement.DONE, Settlement.EXCEPTION):
            assert d.outcome is not None
            self._item_event(d.ctx, "item_finished", state=settled.state, exceptions=len(d.outcome.exceptions))
        elif kind is Settlement.DEFERRED:
            self._item_event(d.ctx, "item_deferred", reason=str(err))
        elif kind is Settlement.OUTAGE:
            self._item_event(d.ctx, "item_carried_over", site=getattr(err, "site", None), error=str(err))
        elif kind is Settlement.RETRY:
            d.ctx.log.warning("item_will_retry_next_run", attempt=item.attempts, of=cfg.max_attempts,
                              error_type=type(err).__name__, error=str(err))
        else:
            d.ctx.log.error("item_failed", attempts=item.attempts, error_type=type(err).__name__, error=str(err))


    def _outcome_audit(self, d: _Done, result: str, detail: dict[str, Any] | None, evidence: Any = None) -> AuditEntry:
        claim = d.ctx.claim
        path = sha = None
        if evidence:
            p = Path(str(evidence))
            if p.exists():
                path, sha = str(p), sha256_file(p)
        return AuditEntry(action="item_outcome", result=result, run_id=self.ctx.run_id, bot=self.ctx.bot,
                          item_ref=d.item.reference, claim_id=claim.claim_id if claim else None,
                          detail=detail, evidence_path=path, evidence_sha256=sha)

    def work(self) -> None:
        """The run's ``concurrency`` worker threads, until the queue is empty or the run stops."""
        workers = [threading.Thread(target=self.guarded_worker, name=f"{self.ctx.bot}-{i}", daemon=True)
                   for i in range(self.ctx.config.concurrency)]
        for t in workers:
            t.start()
        for t in workers:
            while t.is_alive():  # joined in steps, so the main thread still takes SIGINT/SIGTERM
                t.join(0.2)

    def guarded_worker(self) -> None:
        """A worker that breaks (the store is gone, a bug in a bot's session) stops the whole run,
        which then reports ``failed`` instead of succeeding with items left in hand."""
        try:
            self.worker()
        except Exception as exc:
            self.ctx.log.exception("worker_crashed", error_type=type(exc).__name__)
            with self._lock:
                if self.crash is None:
                    self.crash = exc  # the other workers see it and stop after their item

    def worker(self) -> None:
        ctx, cfg = self.ctx, self.ctx.config
        while not ctx.stop.is_set() and self.crash is None:
            items = self.store.claim_items(ctx.bot, ctx.run_id, limit=cfg.batch_size,
                                           lease_seconds=cfg.lease_seconds, only_refs=ctx.only_refs)
            if not items:
                return
            self._count("items", len(items))
            ctx.prefetch_claims([i.claim_key for i in items if i.claim_key])
            done: list[_Done] = []
            last_renew = time.monotonic()
            for n, item in enumerate(items):
                if ctx.stop.is_set() or self.crash is not None:
                    self.store.release_items(ctx.run_id, [i.id for i in items[n:]])
                    self._count("items", -(len(items) - n))
                    break
                done.append(self.process_one(item))
                if self.progress:
                    with self._lock:
                        self.total += 1
                        self.progress(self.total, 0)
                if time.monotonic() - last_renew > cfg.lease_seconds / 3:
                    self.store.renew_leases(ctx.run_id, cfg.lease_seconds)
                    last_renew = time.monotonic()
            self.commit(done)


def _start_helpers(bot: Bot, ctx: RunContext) -> WorkerProcesses:
    """Helper processes for a bot configured with ``processes`` > 1 (``bots.core.runner.processes``)."""
    if ctx.config.processes < 2:
        return WorkerProcesses()
    # Only a bot that says how a helper rebuilds it gets helpers: a helper built any other way (the
    # registry's factory for a bot that is not the registered one) would work the queue differently.
    factory = getattr(bot, "process_factory", None)
    if factory is None:
        ctx.log.warning("processes_ignored", processes=ctx.config.processes,
                        reason="the bot does not say how a helper process builds it")
        return WorkerProcesses()
    from bots.core import registry

    counts = ctx.store.item_counts(bot.name)
    claimable = sum(counts.get(state, 0) for state in item_sources(ItemEvent.CLAIM))
    return WorkerProcesses.start(ctx, claimable=claimable, factory=factory, handoffs=registry.handoff_targets())


def _preflight(bot: Bot, ctx: RunContext) -> None:
    """The bot's setup checks, before any item is claimed (``bots.core.preflight``)."""
    check = getattr(bot, "preflight", None)
    if check is None:
        return
    problems = list(check(ctx))
    if problems:
        raise SetupError(problems)
    ctx.log.info("preflight_passed")


def _audit_setup(store: Store, ctx: RunContext, problems: Sequence[SetupProblem]) -> None:
    """One ``preflight_failed`` record per problem: the site and the setting, never a value."""
    entries = [AuditEntry(action="preflight_failed", result="failed", run_id=ctx.run_id, bot=ctx.bot,
                          detail={"site": p.site, "setting": p.setting, "message": p.message}) for p in problems]
    try:
        with store.begin() as conn:
            store.append_audit(conn, entries)
    except Exception as exc:  # the run's failure is recorded anyway; the audit trail is best effort here
        ctx.log.warning("preflight_audit_failed", error_type=type(exc).__name__)


def _outage_message(runner: _Run) -> str:
    sites = sorted(runner.outages)
    first = runner.outages[sites[0]]
    return (f"site outage: {', '.join(sites)} stopped answering; {runner.carried} item(s) carried over to the "
            f"next run untouched ({first})")


def _described(err: BaseException | None) -> str:
    return f"{type(err).__name__}: {err}"


@contextlib.contextmanager
def _signals_stop(stop: threading.Event) -> Iterator[None]:
    """In the main thread, SIGINT/SIGTERM set ``stop`` instead of killing mid-item."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        log.warning("stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run_bot(bot: Bot, settings: Settings, store: Store, *, only_refs: Sequence[str] | None = None,
            trigger: str = "manual", stop: threading.Event | None = None,
            progress: Callable[[int, int], None] | None = None, options: dict[str, Any] | None = None,
            write_workbook: bool = True) -> RunResult:
    """One run of ``bot`` now. Never raises for item trouble; a broken run returns status ``failed``."""
    started = time.monotonic()
    stop = stop or threading.Event()
    recovered = store.recover_abandoned(bot.name)
    run_id = store.start_run(bot.name, trigger=trigger)
    ctx = RunContext(settings, store, bot.name, run_id, only_refs, stop, options or {})
    runner = _Run(bot, ctx, settings.config.retry_for(bot.name), progress)
    status, message = RunStatus.SUCCEEDED, ""
    ctx.log.info("run_started", trigger=trigger, recovered=recovered)
    with _signals_stop(stop):
        try:
            if write_workbook:
                _read_coder_edits(settings, store, ctx)
            added = bot.enqueue(ctx)
            ctx.log.info("items_enqueued", added=added)
            with bot.session(ctx):
                _preflight(bot, ctx)
                helpers = _start_helpers(bot, ctx)
                try:
                    runner.work()
                finally:
                    if helpers:
                        own = runner.counts["items"]
                        reports = helpers.join(stop)
                        for report in reports:
                            runner.absorb(report)
                        shares = " + ".join(str(r.counts.get("items", 0)) for r in reports)
                        ctx.note(f"worked by {1 + len(reports)} processes (items: {own} in the run's own, "
                                 f"{shares} in its helper(s))")
            if runner.crash is not None:
                raise runner.crash
            if stop.is_set():
                status, message = RunStatus.INTERRUPTED, "stopped on request; unfinished items stay queued"
            elif runner.outages:
                status, message = RunStatus.DEGRADED, _outage_message(runner)
                ctx.log.error("run_degraded", sites=sorted(runner.outages), carried_over=runner.carried)
        except SetupError as exc:
            status, message = RunStatus.FAILED, f"setup: {exc}; no item was touched"
            ctx.log.error("run_setup_failed", problems=[p.message for p in exc.problems])
            _audit_setup(store, ctx, exc.problems)
            store.abandon_run_items(run_id, message)  # nothing is claimed yet; this is belt and braces
        except Exception as exc:
            status, message = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"
            ctx.log.error("run_failed", error_type=type(exc).__name__, error=str(exc))
            returned = store.abandon_run_items(run_id, message)
            if returned:
                ctx.log.warning("items_returned_to_queue", count=returned)
    message = "; ".join(m for m in (message, *ctx.notes) if m)
    workbook_msg = ""
    if write_workbook:
        workbook_msg = _write_workbook(settings, store)
    counts = dict(runner.counts)
    store.finish_run(run_id, status=status, counts=counts, message=message, workbook=workbook_msg)
    seconds = time.monotonic() - started
    ctx.log.info("run_finished", status=status, seconds=round(seconds, 2), workbook=workbook_msg, **counts)
    return RunResult(run_id, bot.name, status, counts, message, workbook_msg, seconds)


def _read_coder_edits(settings: Settings, store: Store, ctx: RunContext) -> None:
    """Coders' edits into the store before the bot enqueues (requeues take effect in this run).
    A workbook that cannot be read is said in the log and read again when the run writes it."""
    from bots.core.workbook import merge_coder_edits

    try:
        merged = merge_coder_edits(settings, store)
    except Exception as exc:
        ctx.log.warning("coder_edits_not_read", error_type=type(exc).__name__, error=str(exc))
        return
    for problem in merged.problems:
        ctx.log.warning("workbook_problem", problem=problem)
    if merged.edits:
        ctx.log.info("coder_edits_read_at_start", edits=merged.edits)


def _write_workbook(settings: Settings, store: Store) -> str:
    """Render the exception workbook; a busy or failed write leaves rows pending in the store."""
    try:
        from bots.core import workbook

        return workbook.sync_workbook(settings, store).message
    except Exception as exc:  # the rows stay pending; the next run writes them
        log.exception("workbook_write_failed", error_type=type(exc).__name__)
        return f"workbook not written ({type(exc).__name__}: {exc}); rows stay pending for the next run"
