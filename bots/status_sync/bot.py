"""The status_sync bot: pushes the other bots' outcomes and the coders' resolutions into the
billing work queue, through its web UI, and verifies every write by reading it back.

Which items: the status updates the other bots queued (work items for ``status_sync``
created by the runner), and, found at the start of each run, the workbook rows coders
marked ``Resolved`` with complete mandatory evidence (the runner reads the workbook's coder
edits at the start of every run, so a resolution saved a minute ago counts). Several items for one claim
are taken oldest first; an older bot update is superseded by a newer one
(:mod:`bots.status_sync.sequencing`).

Per item: open the claim's form in billing; already at the target status → nothing
written, audit ``status_verified``; else set status and note, save, reload, verify both,
audit ``status_pushed`` with before/after and the HTML snapshot's sha256. A coder's
resolution then turns the workbook row ``Synced`` (in the item's own transaction) and an
audit record ``resolution_applied`` links the resolution (exception id, resolution,
resolved by) to the billing update and its evidence.

A fault after Save was pressed (the confirmation or the read-back lost to an expired session
or a 503), or a kill before the outcome's commit, may hide a write that happened. So just before
the click the item commits an audit record ``status_save_submitted`` on its own (the one record
that does not wait for the outcome), and after such a fault the item looks at billing again at
once. Whichever attempt then finds billing already at the target with a save mark pending (this
one, a retry, the next run) reads the form's history: the last change to the target, by the
robot with this item's note, is the item's own save. It is audited once as ``status_pushed``
with ``recovered`` and the status before it from the history (``unknown, found at target`` when
the form has no history the config can read); a change by anyone else stays ``status_verified``.

Exceptions (each with a screenshot of the form): claim not in billing
(``BILLING-CLAIM-NOT-FOUND``), status not offered by the dropdown
(``BILLING-STATUS-NOT-OFFERED``), save refused by the app (``BILLING-SAVE-REFUSED``),
resolution without a billing status in ``config/billing.toml`` (``SYNC-UNMAPPED-RESOLUTION``).
Faults follow the runner's policy: 503s, timeouts and an unverifiable save are retried;
an expired session signs in again; maintenance defers; a CAPTCHA goes to Bot Failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


from bots.core.browser import BrowserHost
from bots.core.errors import BusinessException, ExceptionRecord, ItemDeferred, SetupProblem, SystemFault
from bots.core.preflight import claimable_items, missing_credentials, sign_in_problem
from bots.core.evidence import EvidenceFile
from bots.core.runner import BOT_FAILURES, ItemContext, Outcome, RowSynced, RunContext
from bots.core.settings import Settings
from bots.core.store import AuditEntry, ClaimedItem, ItemState, Store, digest, utcnow
from bots.core.workbook.layout import load_layout
from bots.status_sync.billing import SITE, BillingApp, Synced
from bots.status_sync.config import (
    BILLING_FILE, BillingConfig, BillingCredentials, billing_environment, load_billing_config, resolve_credentials,
)
from bots.status_sync.pages import ClaimForm
from bots.status_sync.sequencing import whose_turn
from bots.status_sync.updates import RESOLUTION_PREFIX, BadItem, Update, note_text, resolution_item

__all__ = ["StatusSyncBot"]

RULE_VERSION = "1"
NO_BILLING_CHANGE = "(no billing change)"
SAVE_SUBMITTED = "status_save_submitted"
UNKNOWN_BEFORE = "unknown, found at target"


@dataclass
class _Session:
    """What one run holds: the billing config, credentials, the browser (started on first use)."""

    settings: Settings
    run: RunContext
    config: BillingConfig
    credentials: BillingCredentials
    host: BrowserHost | None = None
    billing: BillingApp | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> tuple[BrowserHost, BillingApp]:
        with self.lock:
            if self.host is None:
                # Started on the first update that needs billing: a run with nothing to push never
                # launches a browser.
                self.host = BrowserHost(self.settings.browser_path, headless=self.settings.headless,
                                        evidence=self.run.evidence).start()
            if self.billing is None:
                self.billing = BillingApp(self.config, self.credentials, self.host)
            return self.host, self.billing

    def close(self) -> None:
        with self.lock:
            if self.host is not None:
                self.host.close()
                self.host = self.billing = None


class StatusSyncBot:
    name = "status_sync"

    def __init__(self, settings: Settings):
        self.settings = settings
        self._sessions: dict[str, _Session] = {}

    # ---- which items ----------------------------------------------------------------------------

    def enqueue(self, run: RunContext) -> int:
        """The resolved workbook rows, as items (the queued status updates are items already)."""
        config = load_billing_config(self.settings)
        ready = run.store.ready_resolutions()
        added = run.store.enqueue(self.name, [resolution_item(row, config) for row in ready])
        run.log.info("resolutions_ready", rows=len(ready), added=added)
        return added

    def references_for_claims(self, store: Store, claim_ids: set[str]) -> list[str]:
        queued = store.work_items(self.name, states=ItemState.CLAIMABLE)
        refs = [r["reference"] for r in queued if r["claim_key"] and r["claim_key"].split(":", 1)[-1] in claim_ids]
        # and the resolutions that enqueue() is about to add
        refs.extend(RESOLUTION_PREFIX + r["exception_id"] for r in store.exception_rows(claim_ids=claim_ids))
        return sorted(set(refs))

    # ---- the run --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def session(self, run: RunContext) -> Iterator[_Session]:
        config = load_billing_config(self.settings)
        unmapped = config.unmapped(load_layout(self.settings).billing_choices())
        if unmapped:  # each such row becomes an exception when it is resolved; say so up front
            run.log.warning("resolutions_without_billing_status", resolutions=unmapped,
                            fix=f"add them to [resolutions] or no_billing_change in config/{BILLING_FILE}")
        credentials = resolve_credentials(config, billing_environment())
        session = self._sessions[run.run_id] = _Session(self.settings, run, config, credentials)
        try:
            yield session
        finally:
            session.close()
            self._sessions.pop(run.run_id, None)

    def preflight(self, run: RunContext) -> list[SetupProblem]:
        """With items to push: billing credentials set, then one real sign-in, whose session the
        updates share. See ``bots.core.preflight``."""
        session = self._sessions[run.run_id]
        if not any(self._needs_billing(row, session.config) for row in claimable_items(run)):
            return []  # nothing to push (or only resolutions with no billing change): no browser, no sign-in
        config, creds, names = session.config, session.credentials, session.config.credentials
        missing = [env for env, value in ((names.username_env, creds.username), (names.password_env, creds.password))
                   if value is None]
        problem = missing_credentials(SITE, config.display_name, missing)
        if problem is None:
            host, billing = session.app()
            problem = sign_in_problem(host, billing.site, display=config.display_name,
                                      credential_envs=[names.username_env, names.password_env],
                                      url_env=names.url_env, retry=self.settings.config.retry_for(self.name),
                                      run=run, credential=[creds.username, creds.password])
        return [problem] if problem is not None else []

    @staticmethod
    def _needs_billing(row: dict[str, Any], config: BillingConfig) -> bool:
        """Whether working this item means signing in to billing (an unreadable item is decided
        without billing: it becomes an exception)."""
        try:
            return not Update.from_item(row["reference"], row["payload"], config).no_billing_change
        except BadItem:
            return False

    def process(self, item: ClaimedItem, ctx: ItemContext) -> Outcome:
        session = self._sessions[ctx.run_id]
        try:
            update = Update.from_item(item.reference, item.payload, session.config)
        except BadItem as exc:
            raise BusinessException(ExceptionRecord(
                queue=BOT_FAILURES, rule_id="SYNC-BAD-ITEM", rule_version=RULE_VERSION, detail=item.reference,
                reason=f"The status update {item.reference} cannot be read ({exc}); update billing by hand.")) from None
        turn = whose_turn(ctx.run.store, self.name, item)
        if turn.superseded_by is not None:
            _audit(ctx, update, "status_superseded", "superseded",
                   {"status": update.status, "superseded_by": turn.superseded_by})
            return Outcome(result={"result": "superseded", "by": turn.superseded_by})
        if turn.waiting_for is not None:
            raise ItemDeferred(f"waits for the older coder resolution {turn.waiting_for} of the same claim")
        if update.no_billing_change:
            return self._resolved(ctx, update, None, "no_billing_change")
        if update.claim_id is None:
            raise BusinessException(self._record(item, update, "SYNC-NO-CLAIM", None, (
                f"Resolution '{update.resolution}' of {update.exception_id} cannot be applied in billing: the row "
                f"has no Claim ID. Update billing by hand.")))
        host, billing = session.app()
        # Generous: an update may wait for a free context, sign in again and load three pages.
        budget = session.config.timeout_ms / 1000 * 8 + 60
        mark = _SaveMark(ctx, update)

        def attempt() -> Synced:
            return host.run(billing.sync(update.claim_id, update.status, update.note, before_save=mark),
                            timeout=budget)

        try:
            synced = attempt()
        except SystemFault as exc:
            if not (exc.retryable and mark.submitted):
                raise
            # The save was submitted and a fault cut off its confirmation or read-back: the write
            # may be in billing. Look again now (the attempt reads billing before it writes)
            # rather than let this fault be the item's last word.
            ctx.log.warning("billing_save_unconfirmed", claim_id=update.claim_id, error_type=type(exc).__name__,
                            error=str(exc))
            synced = attempt()
        if synced.kind in ("pushed", "verified"):
            return self._applied(ctx, update, synced, session)
        raise BusinessException(self._refusal(ctx, item, update, synced))

    # ---- recording ------------------------------------------------------------------------------

    def _applied(self, ctx: ItemContext, update: Update, synced: Synced, session: _Session) -> Outcome:
        assert synced.before is not None and synced.after is not None and update.status is not None
        before, after = synced.before, synced.after
        detail = {"claim_id": update.claim_id, "before": {"status": before.status, "note": before.note},
                  "after": {"status": after.status, "note": after.note}, "source_bot": update.source_bot,
                  "source_run": update.source_run, "exception_id": update.exception_id}
        how, before_status = synced.kind, before.status
        if synced.kind == "pushed":
            _audit(ctx, update, "status_pushed", "pushed", detail, synced.snapshot)
        elif (recovered := _recovered_save(ctx, update, after, session.credentials)) is not None:
            # Found at the target after this item's own save was cut short by a fault (this
            # attempt, an earlier run, or a killed process): the change is the bot's, recorded once.
            how, before_status = "pushed", recovered["before"]["status"]
            _audit(ctx, update, "status_pushed", "pushed", {**detail, **recovered}, synced.snapshot)
        else:
            _audit(ctx, update, "status_verified", "verified",
                   {**detail, "note_is_ours": after.note == update.billing_note}, synced.snapshot)
        ctx.log.info("billing_status_applied", how=how, claim_id=update.claim_id, status=update.status,
                     before=before_status)
        if update.kind == "resolution":
            return self._resolved(ctx, update, synced, how)
        return Outcome(result={"result": how, "status": update.status, "before": before_status})

    def _resolved(self, ctx: ItemContext, update: Update, synced: Synced | None, how: str) -> Outcome:
        """The coder's resolution is in billing (or needs nothing there): link it in the audit trail
        and turn the workbook row Synced, in the item's own transaction."""
        assert update.exception_id is not None
        status = update.status or NO_BILLING_CHANGE
        _audit(ctx, update, "resolution_applied", how,
               {"exception_id": update.exception_id, "queue": update.queue, "resolution": update.resolution,
                "resolved_by": update.resolved_by, "billing_status": status, "billing": how},
               synced.snapshot if synced else None)
        return Outcome(result={"result": how, "status": status, "exception_id": update.exception_id},
                       intents=[RowSynced(update.exception_id, ctx.run_id, status)])

    def _refusal(self, ctx: ItemContext, item: ClaimedItem, update: Update, synced: Synced) -> ExceptionRecord:
        now = synced.before.status if synced.before else None
        if synced.kind == "not_found":
            rule, reason = "BILLING-CLAIM-NOT-FOUND", (
                f"Claim {update.claim_id} is not in the billing work queue, so its status could not be set to "
                f"'{update.status}'. Check the claim number in billing and update it by hand.")
        elif synced.kind == "not_offered":
            offered = ", ".join(synced.before.offered) if synced.before else ""
            rule, reason = "BILLING-STATUS-NOT-OFFERED", (
                f"Billing does not offer the status '{update.status}' for claim {update.claim_id} (status now "
                f"'{now}'; offered: {offered}). Set the right status by hand, or fix the mapping in config.")
        elif synced.kind == "refused":
            rule, reason = "BILLING-SAVE-REFUSED", (
                f"Billing refused to save status '{update.status}' for claim {update.claim_id} "
                f"({synced.message}). Update it by hand.")
        else:
            rule, reason = "SYNC-UNMAPPED-RESOLUTION", (
                f"Resolution '{update.resolution}' of {update.exception_id} has no billing status in "
                f"config/{BILLING_FILE} [resolutions], so billing was not changed (status now '{now}'). "
                f"Add it there (or to no_billing_change), or set the status by hand.")
        _audit(ctx, update, "status_not_applied", synced.kind, {"claim_id": update.claim_id, "status": update.status,
                                                                 "billing_status_now": now, "rule_id": rule},
               synced.screenshot, rule_id=rule)
        # A claim billing does not know is a claim-number problem, whoever asked for the update;
        # the other refusals go where the coder who resolved the row (or Claim Edits) looks.
        queue = "Claim Edits" if synced.kind == "not_found" else update.queue
        return self._record(item, update, rule, synced.screenshot, reason, queue=queue)

    @staticmethod
    def _record(item: ClaimedItem, update: Update, rule: str, screenshot: EvidenceFile | None,
                reason: str, *, queue: str | None = None) -> ExceptionRecord:
        evidence = (f"billing page read {utcnow().isoformat(timespec='seconds')} UTC; screenshot "
                    f"{screenshot.path.name} sha256 {screenshot.sha256}") if screenshot else f"work item {item.reference}"
        return ExceptionRecord(queue=queue or update.queue, rule_id=rule, rule_version=RULE_VERSION, reason=reason,
                               detail=item.reference, evidence=evidence,
                               evidence_file=str(screenshot.path) if screenshot else None, claim_id=update.claim_id,
                               extra={"payer_id": update.payer_id} if update.payer_id else {})


def _audit(ctx: ItemContext, update: Update, action: str, result: str, detail: dict[str, Any],
           evidence: EvidenceFile | None = None, *, rule_id: str | None = None) -> None:
    """An audit record, committed with the item's outcome."""
    ctx.audit_entries.append(_entry(ctx, update, action, result, detail, evidence, rule_id=rule_id))


def _entry(ctx: ItemContext, update: Update, action: str, result: str, detail: dict[str, Any],
           evidence: EvidenceFile | None = None, *, rule_id: str | None = None) -> AuditEntry:
    """An audit record under the update's claim id (the claim need not be in the store: an
    update may concern a claim billing knows and no worklist loaded)."""
    return AuditEntry(
        action=action, result=result, run_id=ctx.run_id, bot=ctx.run.bot, item_ref=ctx.item.reference,
        claim_id=update.claim_id, rule_id=rule_id, rule_version=RULE_VERSION if rule_id else None,
        input_digest=digest(ctx.item.payload), detail=detail,
        evidence_path=str(evidence.path) if evidence else None, evidence_sha256=evidence.sha256 if evidence else None)


class _SaveMark:
    """The durable note that this item is about to press Save: an audit record
    ``status_save_submitted`` committed on its own, before the click.

    Everything else an item records waits for its outcome's transaction, which a fault after
    the save, or a kill before the commit, never reaches; this mark survives both. The next
    attempt that finds billing already at the target reads it (``_recovered_save``).
    """

    def __init__(self, ctx: ItemContext, update: Update):
        self.ctx = ctx
        self.update = update
        self.submitted = False

    async def __call__(self, before: ClaimForm) -> None:
        # Off the browser's event loop: the other items' pages keep loading during the commit.
        await asyncio.to_thread(self._write, before)
        self.submitted = True

    def _write(self, before: ClaimForm) -> None:
        self.ctx.run.store.audit([_entry(self.ctx, self.update, SAVE_SUBMITTED, "submitted", {
            "claim_id": self.update.claim_id, "status": self.update.status, "before": {"status": before.status}})])


def _pending_save(ctx: ItemContext, update: Update) -> dict[str, Any] | None:
    """This item's latest save mark for ``update.status`` that no push or verification of the
    item has settled yet (one settled record closes every mark before it)."""
    pending = None
    for record in ctx.run.store.audit_records(bot=ctx.run.bot, claim_id=update.claim_id,
                                              item_ref=ctx.item.reference):
        if record["action"] == SAVE_SUBMITTED:
            detail = json.loads(record["detail"] or "{}")
            pending = {**record, "detail": detail} if detail.get("status") == update.status else pending
        elif record["action"] in ("status_pushed", "status_verified"):
            pending = None
    return pending


def _recovered_save(ctx: ItemContext, update: Update, form: ClaimForm,
                    credentials: BillingCredentials) -> dict[str, Any] | None:
    """The push record's recovery details when billing, found at the target, holds this item's own
    save; ``None`` when a person set it (no save mark pending, or the history shows someone else's
    change to the target).

    The history's last change to the target is the one that put it there: the robot's, with
    this item's note, is the item's save and names the real status before it. A form without
    history cannot say more than that the save mark is pending: "unknown, found at target".
    """
    mark = _pending_save(ctx, update)
    if mark is None:
        return None
    found = {"recovered": True, "save_submitted": {"seq": mark["seq"], "run_id": mark["run_id"], "at": mark["ts"],
                                                   "status_read_before": mark["detail"].get("before", {}).get("status")}}
    if form.history is None:
        return {**found, "before": {"status": UNKNOWN_BEFORE, "note": None}, "before_source": "none"}
    target = note_text(update.status or "")
    change = next((c for c in reversed(form.history) if note_text(c.status) == target), None)
    robot = credentials.username.get_secret_value() if credentials.username is not None else None
    if (change is None or robot is None or change.user.strip().casefold() != robot.strip().casefold()
            or note_text(change.note) != update.billing_note):
        return None
    return {**found, "before": {"status": change.from_status, "note": None}, "before_source": "billing history"}
