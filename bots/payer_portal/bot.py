"""The payer_portal bot: claim status lookups on the payers' web portals.

Which claims: submitted ones without a final status, submitted at least
``selection.min_age_days`` ago and not checked in the last ``selection.recheck_days``,
oldest submission first. One work item per claim (reference ``payer:claim_id``); a claim
due for another look starts a new cycle of its done/exception item. Claims named with
``--claim``/``--worklist`` are looked up now, whatever their age or last check.

Per claim: the payer's maintenance windows are checked first (inside one, the item is
deferred to the window's end); then one lookup in the run's shared browser; the routing
rules decide; the outcome carries the exception rows, the billing status to queue for
status_sync, and the write of what was read to the claims table. Every lookup leaves an
HTML snapshot and a ``status_read`` audit record pinned to its sha256; every exception
row links a PNG screenshot, and every failure carries one to Bot Failures.

Exceptions may queue a billing status too (``billing_status`` on a route): a rejected
claim shows *Rejected*, an information request *Info requested* and a denial *Denied* in
the work queue while the row waits for a coder; not-found, ambiguous, unmapped and
finalized-other (F0/F3/F4) rows queue none, since only the coder can tell what the
billing status should be.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bots.core.browser import BrowserHost
from bots.core.claims import Claim
from bots.core.errors import ConfigError, ItemDeferred, PortalError, SetupProblem
from bots.core.payers import profile_digests
from bots.core.preflight import claimable_items, missing_credentials, sign_in_problem, totp_problem
from bots.core.runner import ClaimStatusRead, ItemContext, Outcome, RunContext, StatusUpdate
from bots.core.settings import Settings
from bots.core.store import ClaimedItem, ItemState, Store, WorkItemSpec, digest, utcnow
from bots.payer_portal.portal import Checked, PayerPortal
from bots.payer_portal.profile import PayerCredentials, PayerProfile, load_profiles, payer_environment, resolve_credentials
from bots.payer_portal.routing import Decision, DenialHistory, Lookup, Router, load_category_names
from bots.payer_portal.rules import RULES_FILE, PortalRules, load_rules

__all__ = ["PayerPortalBot"]

CATEGORY_NAMES = ("reference", "x12_claim_status_category.csv")


@dataclass
class _Session:
    """What one run holds: rules, profiles, credentials and the browser (started when there is work)."""

    settings: Settings
    run: RunContext
    rules: PortalRules
    router: Router
    profiles: dict[str, PayerProfile]
    credentials: dict[str, PayerCredentials]
    host: BrowserHost | None = None
    portals: dict[str, PayerPortal] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start_browser(self) -> BrowserHost:
        with self.lock:
            if self.host is None:
                self.host = BrowserHost(self.settings.browser_path, headless=self.settings.headless,
                                        evidence=self.run.evidence).start()
            return self.host

    def portal(self, profile: PayerProfile) -> tuple[BrowserHost, PayerPortal]:
        """The payer's portal in the run's browser (one per payer and run)."""
        host = self.start_browser()
        with self.lock:
            portal = self.portals.get(profile.id)
            if portal is None:
                portal = self.portals[profile.id] = PayerPortal(profile, self.credentials[profile.id], host)
        return host, portal

    def check(self, profile: PayerProfile, claim: Claim, decide: Callable[[Lookup], Decision]) -> Checked:
        """One lookup in the run's browser, from a worker thread."""
        host, portal = self.portal(profile)
        # Generous: a lookup may wait for a free context, sign in again and retry a page load.
        return host.run(portal.check(claim, decide), timeout=profile.timeout_ms / 1000 * 8 + 60)

    def close(self) -> None:
        with self.lock:
            if self.host is not None:
                self.host.close()
                self.host = None


class PayerPortalBot:
    name = "payer_portal"

    def __init__(self, settings: Settings):
        self.settings = settings
        self._sessions: dict[str, _Session] = {}

    # ---- which claims ---------------------------------------------------------------------------

    def enqueue(self, run: RunContext) -> int:
        # A changed payer profile (status words, tolerances, maintenance windows) is recorded as a change.
        run.store.record_payer_profiles(profile_digests(self.settings.payers), bot=self.name, run_id=run.run_id)
        rules = load_rules(self.settings.config_dir)
        sel = rules.selection
        zone = ZoneInfo(self.settings.config.timezone)
        submitted_by = (datetime.now(zone).date() - timedelta(days=sel.min_age_days)).isoformat()
        checked_by = (utcnow() - timedelta(days=sel.recheck_days)).isoformat(timespec="seconds")
        # Finished items as they stand before the due claims are read: a robot beside this one that
        # finishes one of them meanwhile has just looked it up, and it is not reopened (``reopen``).
        finished = run.store.reopenable_items(self.name, (ItemState.DONE, ItemState.EXCEPTION))
        # Named on the command line (run.only_refs): look now, whatever the age.
        rows = run.store.claims_due_for_status(submitted_by=submitted_by, checked_by=checked_by,
                                               also=run.only_refs)
        # Oldest submission first: the longer a claim waits, the closer it gets to the payer's
        # timely-filing and follow-up limits.
        specs = [WorkItemSpec(reference=key, claim_key=key, payload={}, digest=dig, sort_key=submitted)
                 for key, dig, submitted in rows]
        refs = [s.reference for s in specs]
        with run.store.begin() as conn:
            added = run.store.enqueue(self.name, specs, conn=conn)
            again = {r: finished[r] for r in refs if r in finished}
            reopened = run.store.reopen(self.name, again, conn, as_read=again) if again else 0
        return added + reopened

    def references_for_claims(self, store: Store, claim_ids: set[str]) -> list[str]:
        return store.claim_keys_for_ids(claim_ids)  # items are keyed by claim

    # ---- the run ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def session(self, run: RunContext) -> Iterator[_Session]:
        """Profiles, rules and credentials load once per run; the browser starts on the first lookup."""
        settings = self.settings
        rules = load_rules(settings.config_dir)
        profiles = load_profiles(settings.payers)
        for profile in profiles.values():
            for word, category in profile.status_map.items():
                if rules.route_for(category) is None:
                    raise ConfigError(f"config/payers/{profile.id}.toml: key 'status_map.{word}': category "
                                      f"{category} has no route in config/{RULES_FILE}")
        environ = payer_environment()
        credentials = {pid: resolve_credentials(p, environ) for pid, p in profiles.items()}
        history = DenialHistory.load(run.store, bot=self.name, days=rules.review.repeat_denial_days,
                                     ignore=rules.review.pattern_ignore_codes)
        router = Router(rules, load_category_names(settings.config_file(*CATEGORY_NAMES)), history)
        session = self._sessions[run.run_id] = _Session(settings, run, rules, router, profiles, credentials)
        run.log.info("payer_profiles_loaded", payers=sorted(profiles), rules_version=rules.version)
        try:
            counts = run.store.item_counts(self.name)
            if any(counts.get(state, 0) for state in ItemState.CLAIMABLE):
                # Started now, so a missing or broken browser fails the run with one clear message
                # instead of every item; a run with nothing to do never launches one.
                session.start_browser()
            yield session
        finally:
            session.close()
            self._sessions.pop(run.run_id, None)

    def preflight(self, run: RunContext) -> list[SetupProblem]:
        """Each payer this run will visit (it has claimable items and a profile, and is not in its
        maintenance window): credentials set, TOTP secret usable, then one real sign-in, whose
        session the lookups share. See ``bots.core.preflight``. The payers sign in at the same
        time (each is its own site): the run waits for the slowest sign-in, not for their sum."""
        session = self._sessions[run.run_id]
        payers = {r["reference"].split(":", 1)[0] for r in claimable_items(run)} & set(session.profiles)
        now = datetime.now(UTC)
        problems: dict[str, SetupProblem | None] = {}
        sign_ins: list[str] = []
        for pid in sorted(payers):
            profile, creds = session.profiles[pid], session.credentials[pid]
            if profile.maintenance_end(now) is not None:
                continue  # its lookups are deferred to the window's end; nothing to sign in to now
            problem = missing_credentials(pid, profile.display_name,
                                          [profile.env_name(m) for m in creds.missing(profile.selectors.otp is not None)])
            if problem is None and profile.selectors.otp is not None:
                assert creds.totp_secret is not None
                problem = totp_problem(pid, profile.display_name, profile.env_name("totp_secret"),
                                       creds.totp_secret.get_secret_value())
            problems[pid] = problem
            if problem is None:
                sign_ins.append(pid)
        if sign_ins:
            with ThreadPoolExecutor(max_workers=len(sign_ins), thread_name_prefix="preflight") as pool:
                for pid, problem in zip(sign_ins, pool.map(functools.partial(self._sign_in, session, run), sign_ins)):
                    problems[pid] = problem
        return [p for _pid, p in sorted(problems.items()) if p is not None]

    def _sign_in(self, session: _Session, run: RunContext, pid: str) -> SetupProblem | None:
        profile, creds = session.profiles[pid], session.credentials[pid]
        needed = PayerCredentials.needed(needs_totp=profile.selectors.otp is not None)
        host, portal = session.portal(profile)
        return sign_in_problem(host, portal.site, display=profile.display_name,
                               credential_envs=[profile.env_name(w) for w in needed],
                               url_env=profile.env_name("url"), retry=self.settings.config.retry_for(self.name),
                               run=run, credential=[getattr(creds, w) for w in needed])

    def process(self, item: ClaimedItem, ctx: ItemContext) -> Outcome:
        session = self._sessions[ctx.run_id]
        claim = ctx.require_claim()
        profile = session.profiles.get(claim.payer_id)
        if profile is None:
            decision = session.router.no_profile(claim)
            self._audit(ctx, decision, None)
            return self._outcome(ctx, claim, None, decision, None)
        window_end = profile.maintenance_end(datetime.now(UTC))
        if window_end is not None:
            raise ItemDeferred(f"{profile.display_name} is in its maintenance window until "
                               f"{window_end:%Y-%m-%d %H:%M} UTC", until=window_end)
        decide = functools.partial(session.router.decide, claim, profile, item_ref=item.reference)
        checked = session.check(profile, claim, decide)
        self._audit(ctx, checked.decision, checked)
        if checked.decision.fault:
            shot = checked.screenshot
            raise PortalError(checked.decision.fault, screenshot=str(shot.path) if shot else None)
        ctx.log.info("claim_status_read", claim_id=claim.claim_id, payer=profile.id, result=checked.decision.result,
                     rule_id=checked.decision.rule_id, exceptions=len(checked.decision.exceptions))
        return self._outcome(ctx, claim, profile, checked.decision, checked)

    # ---- recording ----------------------------------------------------------------------------

    def _audit(self, ctx: ItemContext, decision: Decision, checked: Checked | None) -> None:
        detail = dict(decision.detail)
        if checked is not None:
            detail["page"] = checked.lookup.page
            if checked.screenshot is not None:
                detail["screenshot"] = {"path": str(checked.screenshot.path), "sha256": checked.screenshot.sha256}
        ctx.audit("status_read", decision.result, rule_id=decision.rule_id, rule_version=decision.rule_version,
                  input_digest=digest(detail), detail=detail, evidence=checked.snapshot if checked else None)

    def _outcome(self, ctx: ItemContext, claim: Claim, profile: PayerProfile | None, decision: Decision,
                 checked: Checked | None) -> Outcome:
        checked_at = utcnow().isoformat(timespec="seconds")
        for record in decision.exceptions:
            if checked is not None:
                snap = checked.snapshot
                record.evidence = (f"{checked.lookup.page} page read {checked_at} UTC; HTML snapshot "
                                   f"{snap.path.name} sha256 {snap.sha256}")
                record.evidence_file = str(checked.screenshot.path) if checked.screenshot else str(snap.path)
        updates: list[StatusUpdate] = []
        if decision.billing_status and profile is not None:
            note = f"{profile.display_name} portal {checked_at[:10]}: {decision.word or 'not found'} (X12 {decision.category})"
            if decision.paid is not None:
                note += f", paid ${decision.paid:,.2f}"
            updates.append(StatusUpdate(claim_id=claim.claim_id, payer_id=claim.payer_id, status=decision.billing_status,
                                        note=note, source_bot=self.name, run_id=ctx.run_id))
        # What the portal showed is recorded on the claim in the item's own transaction.
        read = ClaimStatusRead(claim.key, category=decision.category, word=decision.word, checked_at=checked_at,
                               final=decision.final, paid_amount=decision.paid)
        return Outcome(result={"result": decision.result, "rule_id": decision.rule_id, "category": decision.category,
                               "billing_status": decision.billing_status},
                       exceptions=decision.exceptions, intents=[read, *updates])
