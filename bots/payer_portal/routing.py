"""From what the portal showed to what happens: DESIGN section 5, rules in config/rules/payer_portal.toml.

Pure decisions, no browser: a :class:`Lookup` (found / not found / ambiguous / mismatch)
goes in, a :class:`Decision` comes out with the X12 category, the routing rule, the
exception rows (reason, queue, review level) and the billing status to queue. An X12
E-category decides nothing about the claim: the payer could not answer, so the decision
carries a ``fault`` the bot raises as ``PortalError`` (retried) once the read is audited.
"""

from __future__ import annotations

import csv
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from bots.core.claims import Claim
from bots.core.errors import ConfigError, ExceptionRecord
from bots.core.store import Store, utcnow
from bots.payer_portal.claim_status import PortalClaimStatus
from bots.payer_portal.profile import PayerProfile
from bots.payer_portal.rules import PortalRules, Route, SpecialRule

__all__ = ["Decision", "DenialHistory", "Lookup", "Router", "load_category_names"]

DENIALS = "Denials"
_CARC_IN_DETAIL = re.compile(r"carc=([^|]*)")


@dataclass
class Lookup:
    """What one lookup found on the portal; the router decides what it means."""

    outcome: Literal["found", "not_found", "ambiguous", "mismatch"]
    page: str                                   # the page the evidence shows: detail, search, results
    status: PortalClaimStatus | None = None
    candidates: list[str] = field(default_factory=list)   # claim numbers the portal offered
    mismatch: str = ""                          # what differs from the worklist (no values: PHI)


@dataclass
class Decision:
    rule_id: str
    rule_version: str
    result: str                  # the audit result: the X12 category, or unmapped / ambiguous / mismatch
    category: str | None
    word: str | None
    exceptions: list[ExceptionRecord]
    billing_status: str | None
    final: bool
    paid: float | None
    detail: dict[str, Any]       # what was read, for the audit record (no PHI)
    fault: str | None = None     # the payer could not answer (X12 E): raise PortalError with this


def load_category_names(path: Path) -> dict[str, str]:
    """X12 category code → description (config/reference/x12_claim_status_category.csv)."""
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["code"]: row["description"] for row in csv.DictReader(fh)}


class DenialHistory:
    """Claims denied per (payer, CARC) in the review window: the store's Denials rows at the start
    of the run, plus this run's denials as they are decided (thread-safe)."""

    def __init__(self, claims: dict[tuple[str, str], set[str]], ignore: Sequence[str] = ()):
        self._claims = claims
        self._ignore = {c.upper() for c in ignore}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, store: Store, *, bot: str, days: int, ignore: Sequence[str] = ()) -> DenialHistory:
        cutoff = (utcnow() - timedelta(days=days)).isoformat(timespec="microseconds")
        found: dict[tuple[str, str], set[str]] = {}
        for row in store.exception_rows(bot, queue=DENIALS, seen_since=cutoff):
            for code in cls.codes_in(row["detail"] or ""):
                found.setdefault((row["payer_id"] or "", code), set()).add(row["item_ref"])
        return cls(found, ignore)

    @staticmethod
    def codes_in(detail: str) -> list[str]:
        match = _CARC_IN_DETAIL.search(detail)
        return [c for c in match.group(1).split(",") if c] if match else []

    def add(self, payer: str, codes: Sequence[str], item_ref: str) -> dict[str, int]:
        """Count this claim's denial; return, per counted code, how many claims it now denied."""
        counts = {}
        with self._lock:
            for code in codes:
                if code.upper() in self._ignore:
                    continue
                seen = self._claims.setdefault((payer, code), set())
                seen.add(item_ref)
                counts[code] = len(seen)
        return counts


def _money(value: Decimal | float | None) -> str:
    return "none" if value is None else f"${Decimal(str(value)):,.2f}"


class Router:
    """Applies the routing rules to one lookup at a time (safe to call from several threads)."""

    def __init__(self, rules: PortalRules, category_names: dict[str, str], history: DenialHistory):
        self.rules = rules
        self.names = category_names
        self.history = history

    def decide(self, claim: Claim, profile: PayerProfile, lookup: Lookup, item_ref: str) -> Decision:
        if lookup.outcome == "ambiguous":
            return self._ambiguous(claim, profile, lookup)
        if lookup.outcome == "mismatch":
            return self._mismatch(claim, profile, lookup)
        if lookup.outcome == "not_found":
            return self._by_category(claim, profile, profile.not_found_category, None, None, item_ref)
        assert lookup.status is not None
        word = lookup.status.status_word
        category = profile.category_for(word)
        if category is None:
            return self._unmapped(claim, profile, lookup.status)
        return self._by_category(claim, profile, category, word, lookup.status, item_ref)

    # ---- the DESIGN table ---------------------------------------------------------------------

    def _by_category(self, claim: Claim, profile: PayerProfile, category: str, word: str | None,
                     status: PortalClaimStatus | None, item_ref: str) -> Decision:
        found = self.rules.route_for(category)
        if found is None:  # the bot checks every profile's mapping against the routes at start
            raise ConfigError(f"config/payers/{profile.id}.toml: category {category} has no route in "
                              f"config/rules/payer_portal.toml")
        rule_id, route = found
        shown = f"'{word}' (X12 {category}: {self.names.get(category, 'see code list 507')})"
        paid = float(status.paid) if status is not None and status.paid is not None else None
        detail: dict[str, Any] = {"payer": profile.id, "word": word, "category": category, "rule": rule_id,
                                  "paid": paid, "expected": claim.expected_amount}
        if status is not None:
            detail.update(status.model_dump(mode="json", exclude={"claim_id", "status_word"}))
        if route.action == "system_fault":
            return Decision(rule_id=rule_id, rule_version=route.version, result=category, category=category,
                            word=word, exceptions=[], billing_status=None, final=False, paid=paid, detail=detail,
                            fault=f"{profile.display_name} answers {shown} for {claim.claim_id}: the payer could "
                                  f"not give a status; the bot tries again")
        records: list[ExceptionRecord] = []
        if route.action == "exception":
            records.append(self._route_record(claim, profile, category, word, status, route, rule_id, shown, item_ref))
        if route.check_variance:
            variance = self._variance(claim, profile, status)
            if variance is not None:
                records.append(variance)
        self._review(claim, records)
        return Decision(rule_id=rule_id, rule_version=route.version, result=category, category=category, word=word,
                        exceptions=records, billing_status=route.billing_status,
                        # F categories are final: adjudication is complete, the claim is not looked up again.
                        final=category.startswith("F"), paid=paid, detail=detail)

    def _route_record(self, claim: Claim, profile: PayerProfile, category: str, word: str | None,
                      status: PortalClaimStatus | None, route: Route, rule_id: str, shown: str,
                      item_ref: str) -> ExceptionRecord:
        if status is None:  # not found: nothing to quote but the search itself
            how = "claim number" if profile.search_flow == "claim_number" else "member id and date of service"
            reason = (f"Claim {claim.claim_id} was not found on the {profile.display_name} portal (searched by "
                      f"{how}; X12 {category}: {self.names.get(category, '')}).")
            detail = f"{category}|not found"
        else:
            reason = f"{profile.display_name} shows {shown}."
            if route.queue == DENIALS:
                reason += (" Adjustment reasons: " + _listing(c.describe() for c in status.carc)
                           if status.carc else " No adjustment reason codes shown.")
                if status.paid is not None:
                    reason += f" Paid {_money(status.paid)} of {_money(status.billed)} billed."
            if status.remarks:
                reason += " Payer remarks: " + _sentence(status.remarks)
            detail = f"{category}|{word}"
            if route.queue == DENIALS:
                detail += "|carc=" + ",".join(c.code for c in status.carc)
        record = ExceptionRecord(queue=route.queue or "", rule_id=rule_id, rule_version=route.version,
                                 reason=_with_guidance(reason, route.guidance), detail=detail,
                                 priority=route.priority, claim_id=claim.claim_id)
        if route.queue == DENIALS and status is not None:
            counts = self.history.add(profile.id, [c.code for c in status.carc], item_ref)
            repeated = {c: n for c, n in counts.items() if n >= self.rules.review.repeat_denial_count}
            if repeated:
                record.review_level = "Senior"
                record.reason += " Senior review: repeat denial pattern (" + ", ".join(
                    f"{c} on {n} {profile.id} claims" for c, n in sorted(repeated.items())) + (
                    f" within {self.rules.review.repeat_denial_days} days).")
        return record

    def _variance(self, claim: Claim, profile: PayerProfile, status: PortalClaimStatus | None) -> ExceptionRecord | None:
        """F1 paid: a Payment Variances row when paid differs from expected beyond the tolerance.
        No expected amount on the worklist means nothing to compare: the status update stands."""
        v = self.rules.variance
        if claim.expected_amount is None or status is None:
            return None
        expected = Decimal(str(claim.expected_amount))
        if status.paid is None:
            reason = (f"{profile.display_name} shows the claim paid but no paid amount; expected "
                      f"{_money(expected)}.")
            detail = f"F1|paid=none|expected={expected:.2f}"
        else:
            difference = status.paid - expected
            if not v.exceeded(float(difference), float(expected)):
                return None
            share = f" ({abs(difference) / expected:.1%})" if expected else ""
            direction = "short by" if difference < 0 else "over by"
            reason = (f"Paid {_money(status.paid)}, expected {_money(expected)}: {direction} "
                      f"{_money(abs(difference))}{share}; tolerance {v.describe()}.")
            if status.carc:
                reason += " Adjustments shown: " + _listing(c.describe() for c in status.carc)
            detail = f"F1|paid={status.paid:.2f}|expected={expected:.2f}"
        return ExceptionRecord(queue=v.queue, rule_id=v.rule_id, rule_version=v.version,
                               reason=_with_guidance(reason, v.guidance), detail=detail, claim_id=claim.claim_id)

    # ---- outside the table: never a guess -----------------------------------------------------

    def _special(self, rule_id: str, claim: Claim, reason: str, detail: str, result: str, word: str | None = None,
                 extra: dict[str, Any] | None = None) -> Decision:
        rule: SpecialRule = self.rules.special[rule_id]
        record = ExceptionRecord(queue=rule.queue, rule_id=rule_id, rule_version=rule.version,
                                 reason=_with_guidance(reason, rule.guidance), detail=detail,
                                 priority=rule.priority, claim_id=claim.claim_id)
        self._review(claim, [record])
        return Decision(rule_id=rule_id, rule_version=rule.version, result=result, category=None, word=word,
                        exceptions=[record], billing_status=None, final=False, paid=None,
                        detail={"word": word, **(extra or {})})

    def _unmapped(self, claim: Claim, profile: PayerProfile, status: PortalClaimStatus) -> Decision:
        word = status.status_word
        reason = (f"{profile.display_name} shows the status '{word}', which config/payers/{profile.id}.toml does "
                  f"not map to an X12 category, so the bot did not guess.")
        if status.remarks:
            reason += " Payer remarks: " + _sentence(status.remarks)
        return self._special("PORTAL-UNMAPPED-STATUS", claim, reason, f"unmapped|{word}", "unmapped", word,
                             {"payer": profile.id, **status.model_dump(mode="json", exclude={"claim_id"})})

    def no_profile(self, claim: Claim) -> Decision:
        reason = (f"No payer profile config/payers/{claim.payer_id}.toml, so the bot cannot look up claims of "
                  f"payer '{claim.payer_id}'.")
        return self._special("PORTAL-NO-PROFILE", claim, reason, "no profile", "no_profile")

    def _ambiguous(self, claim: Claim, profile: PayerProfile, lookup: Lookup) -> Decision:
        numbers = ", ".join(lookup.candidates)
        reason = (f"{profile.display_name} returned {len(lookup.candidates)} claims for this member and date of "
                  f"service ({numbers}); the bot does not pick one.")
        return self._special("PORTAL-AMBIGUOUS", claim, reason, "ambiguous|" + ",".join(sorted(lookup.candidates)),
                             "ambiguous", extra={"payer": profile.id, "candidates": lookup.candidates})

    def _mismatch(self, claim: Claim, profile: PayerProfile, lookup: Lookup) -> Decision:
        offered = f" (the portal shows claim {lookup.candidates[0]})" if lookup.candidates else ""
        reason = (f"The {profile.display_name} claim found for {claim.claim_id} has a different "
                  f"{lookup.mismatch} than the worklist{offered}; the bot did not use it.")
        return self._special("PORTAL-MISMATCH", claim, reason, f"mismatch|{lookup.mismatch}", "mismatch",
                             extra={"payer": profile.id, "mismatch": lookup.mismatch,
                                    "candidates": lookup.candidates})

    # ---- review level -------------------------------------------------------------------------

    def _review(self, claim: Claim, records: list[ExceptionRecord]) -> None:
        """High-dollar claims go to a senior reviewer, whatever the finding."""
        threshold = self.rules.review.high_dollar_amount
        if claim.total_charge < threshold:
            return
        for record in records:
            record.review_level = "Senior"
            record.priority = "High"
            record.reason += f" Senior review: billed {_money(claim.total_charge)} (at or above {_money(threshold)})."


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _listing(parts: Iterable[str]) -> str:
    """Items joined with "; ", ending as one sentence (CARC texts carry their own full stops)."""
    return _sentence("; ".join(p.rstrip(".") for p in parts))


def _with_guidance(reason: str, guidance: str) -> str:
    return f"{reason} {guidance}".strip() if guidance else reason
