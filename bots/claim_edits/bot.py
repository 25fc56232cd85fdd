"""The claim_edits bot: scan every unsubmitted claim with the configured rules.

One work item per claim (reference ``payer:claim_id``), keyed on the claim's
content digest: an unchanged claim is scanned once, a corrected and reloaded
claim is scanned again. A clean claim queues "Ready to submit" for
status_sync; every other claim gets one exception row per finding. Every rule
evaluation, pass or fail, is in the claim's one ``rules_evaluated`` audit record:
the claim digest, the edit-table versions, and each rule's id, version, result
and detail (``bots audit show`` prints one line per rule). One record per claim
rather than one per rule: a scan hashes, signs and inserts a dozen times fewer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bots.claim_edits.changes import record_rules_change
from bots.claim_edits.config import RULES_FILE, ActiveRule, ClaimEditsConfig, load_rules
from bots.claim_edits.engine import RuleEngine, audit_detail
from bots.claim_edits.importer import active_versions, load_samples_if_missing
from bots.claim_edits.reference import ReferenceData
from bots.claim_edits.scan_gc import scan_gc
from bots.claim_edits.tables import MUE, PTP, ensure_tables
from bots.core.runner import ItemContext, Outcome, RunContext, StatusUpdate
from bots.core.settings import Settings
from bots.core.store import ClaimedItem, Store, WorkItemSpec
from bots.core.store.audit import RULES_EVALUATED, verdict as rule_verdict

__all__ = ["ClaimEditsBot"]

DENIAL_RULE = "REVIEW-DENIAL-PATTERN"


@dataclass
class _Session:
    config: ClaimEditsConfig
    engine: RuleEngine
    note: str
    tables: dict[str, str]  # kind -> label of the edit-table versions every verdict of the run used


def reference_for(store: Store, settings: Settings, rules: list[ActiveRule],
                  versions: dict[str, tuple[int, str]]) -> ReferenceData:
    """The reference data a scan with ``rules`` against these table versions consults."""
    denial = next((r for r in rules if r.rule_id == DENIAL_RULE), None)
    return ReferenceData.load(store, versions, settings.payers,
                              (denial.params.days, denial.params.min_denials) if denial else None)


class ClaimEditsBot:
    name = "claim_edits"
    # A scan finishes tens of thousands of items per run: per-item log lines go to debug (the run
    # summary and the audit trail tell each item's story). Override in bots.toml with
    # [bots.claim_edits.options] item_log_level = "info".
    item_log_level = "debug"

    def __init__(self, settings: Settings):
        self.settings = settings
        self._sessions: dict[str, _Session] = {}

    @property
    def process_factory(self) -> Callable[[Settings], ClaimEditsBot] | None:
        """How a helper process builds this bot (``processes`` > 1). A subclass (a test's bot with other
        behaviour) is not rebuilt as the plain bot: it runs in one process unless it names its own."""
        return ClaimEditsBot if type(self) is ClaimEditsBot else None

    def enqueue(self, run: RunContext) -> int:
        # A changed rules file sends every unsubmitted claim back before the queue is filled (a change record).
        config, _rules = load_rules(self.settings.config_file(*RULES_FILE.parts))
        change = record_rules_change(run.store, config, run_id=run.run_id)
        if change is not None:
            run.log.info("rules_change_recorded", change=change)
            run.note(f"rules file changed (change {change}): unsubmitted claims are scanned again")
        rows = run.store.unsubmitted_claims()
        # Oldest date of service first: it is closest to the payer's timely-filing limit.
        specs = [WorkItemSpec(reference=key, claim_key=key, payload={"digest": dig}, digest=dig,
                              sort_key=dos or "") for key, dig, dos in rows]
        wanted = {s.reference for s in specs}
        if run.only_refs is not None:
            wanted &= set(run.only_refs)
        if not wanted:
            self._say_why_nothing_to_scan(run)
        return run.store.enqueue(self.name, specs)

    @staticmethod
    def _say_why_nothing_to_scan(run: RunContext) -> None:
        """No unsubmitted claim to scan: when the loaded (or named) claims are all submitted, say that
        this bot only scans claims before submission, so "items 0" is not read as a fault."""
        named = set(run.only_refs) if run.only_refs is not None else None
        submitted = sum(1 for r in run.store.claim_rows()
                        if r["submitted_date"] and (named is None or r["claim_key"] in named))
        if submitted:
            run.note(f"0 items: {submitted} loaded claim(s) are already submitted; claim_edits scans claims "
                     f"before submission (payer_portal follows submitted claims)")

    @contextlib.contextmanager
    def session(self, run: RunContext) -> Iterator[_Session]:
        """Rules and reference tables, loaded once per run (a config change applies from the next run)."""
        settings, store = self.settings, run.store
        config, rules = load_rules(settings.config_file(*RULES_FILE.parts))
        ensure_tables(store)
        for result in load_samples_if_missing(store, settings.config_file("reference")):
            run.log.info("edit_table_sample_loaded", kind=result.kind, label=result.label)
        versions = active_versions(store)
        reference = reference_for(store, settings, rules, versions)
        note = (f"claim_edits: {len(rules)} rules passed (NCCI PTP {versions[PTP][1]}; MUE {versions[MUE][1]})")
        tables = {kind: label for kind, (_vid, label) in versions.items()}
        self._sessions[run.run_id] = _Session(config, RuleEngine(rules, reference), note, tables)
        run.log.info("rules_loaded", rules=len(rules), ptp_table=versions[PTP][1], mue_table=versions[MUE][1],
                     denial_patterns=len(reference.denial_counts))
        try:
            with scan_gc():
                yield self._sessions[run.run_id]
            # Changes whose claims are all scanned again now: their rows raised and cleared, per rule.
            for change in store.settle_change_effects(self.name, run_id=run.run_id):
                run.log.info("change_effect_recorded", change=change)
        finally:
            self._sessions.pop(run.run_id, None)
            reference.close()

    def process(self, item: ClaimedItem, ctx: ItemContext) -> Outcome:
        session = self._sessions[ctx.run_id]
        claim = ctx.require_claim()
        verdict = session.engine.evaluate(claim)
        failed = []
        verdicts = []
        for r, ev in verdict.results:
            result = "fail" if ev.failed else "pass"
            if result == "fail":
                failed.append(r.rule_id)
            verdicts.append(rule_verdict(r.rule_id, r.version, result, audit_detail(ev)))
        ctx.audit(RULES_EVALUATED, "fail" if failed else "pass", input_digest=item.payload.get("digest"),
                  detail={"tables": session.tables, "verdicts": verdicts})
        if verdict.exceptions:
            return Outcome(result={"failed_rules": failed}, exceptions=verdict.exceptions)
        return Outcome(
            result={"failed_rules": failed},  # an escalation-only rule may fail without a row
            intents=[StatusUpdate(claim_id=claim.claim_id, payer_id=claim.payer_id,
                                         status=session.config.ready_status, note=session.note,
                                         source_bot=self.name, run_id=ctx.run_id)])

    def references_for_claims(self, store: Store, claim_ids: set[str]) -> list[str]:
        return store.claim_keys_for_ids(claim_ids)  # items are keyed by claim
