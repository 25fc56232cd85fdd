"""The routing rules: ``config/rules/payer_portal.toml``, validated.

Which claims are due for a lookup, how each X12 claim status category routes (DESIGN
section 5), which billing status a read queues for status_sync, the payment-variance
tolerance and when a row needs a senior reviewer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bots.core.settings import load_toml_model
from bots.payer_portal.profile import X12_CATEGORY

__all__ = ["RULES_FILE", "DESIGN_CATEGORIES", "PortalRules", "Route", "SpecialRule", "load_rules"]

RULES_FILE = Path("rules") / "payer_portal.toml"

Queue = Literal["Coding Queries", "Claim Edits", "Documentation Requests", "Denials", "Payment Variances"]


def _codes(prefix: str, first: int, last: int) -> set[str]:
    return {f"{prefix}{n}" for n in range(first, last + 1)}


# Every category the DESIGN section 5 table routes: each must have exactly one route.
# (A0 "forwarded" and A5 "split claim" are not in the table: a profile mapping a word to
# them fails validation until a route for them is added.)
DESIGN_CATEGORIES = frozenset(
    {"A1", "A2", "A3", "A4", "A6", "A7", "A8", "D0"}
    | _codes("P", 0, 5) | _codes("R", 0, 16) | _codes("F", 0, 4) | _codes("E", 0, 4)
)
SPECIAL_RULES = ("PORTAL-UNMAPPED-STATUS", "PORTAL-AMBIGUOUS", "PORTAL-MISMATCH", "PORTAL-NO-PROFILE")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Selection(_Strict):
    min_age_days: int = Field(14, ge=0, le=365)   # a payer needs time to receive and load a claim
    recheck_days: int = Field(7, ge=0, le=365)    # how long a non-final status stands before the next look


class Review(_Strict):
    high_dollar_amount: float = Field(1000.0, ge=0)   # billed total at or above: Senior
    repeat_denial_count: int = Field(3, ge=2)         # same payer + same CARC on this many claims...
    repeat_denial_days: int = Field(90, ge=1)         # ...within this many days: Senior
    pattern_ignore_codes: list[str] = Field(default_factory=list)


class Variance(_Strict):
    rule_id: str = "PORTAL-PAYMENT-VARIANCE"
    version: str = "1"
    queue: Queue = "Payment Variances"
    tolerance_amount: float | None = Field(5.0, ge=0)
    tolerance_percent: float | None = Field(2.0, ge=0, le=100)
    guidance: str = ""

    def exceeded(self, difference: float, expected: float) -> bool:
        """Over tolerance when the difference is beyond every tolerance that is set."""
        diff = abs(difference)
        if self.tolerance_amount is not None and diff <= self.tolerance_amount:
            return False
        if self.tolerance_percent is not None and expected and diff <= abs(expected) * self.tolerance_percent / 100:
            return False
        return diff > 0.005

    def describe(self) -> str:
        parts = []
        if self.tolerance_amount is not None:
            parts.append(f"${self.tolerance_amount:,.2f}")
        if self.tolerance_percent is not None:
            parts.append(f"{self.tolerance_percent:g}%")
        return " and ".join(parts) or "none"


class Route(_Strict):
    description: str
    version: str = "1"
    categories: list[str] = Field(min_length=1)
    action: Literal["status_update", "exception", "system_fault"]
    queue: Queue | None = None
    billing_status: str | None = None
    priority: Literal["Normal", "High"] = "Normal"
    guidance: str = ""
    check_variance: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Route:
        if self.action == "exception" and self.queue is None:
            raise ValueError("an 'exception' route needs a queue")
        if self.action != "exception" and self.queue is not None:
            raise ValueError(f"a '{self.action}' route has no queue")
        if self.action == "status_update" and not self.billing_status:
            raise ValueError("a 'status_update' route needs a billing_status")
        if self.action == "system_fault" and (self.billing_status or self.check_variance):
            raise ValueError("a 'system_fault' route queues nothing")
        return self


class SpecialRule(_Strict):
    description: str
    version: str = "1"
    queue: Queue
    priority: Literal["Normal", "High"] = "Normal"
    guidance: str = ""


class PortalRules(_Strict):
    """The shape of ``config/rules/payer_portal.toml``."""

    version: str
    billing_statuses: list[str] = Field(min_length=1)
    selection: Selection = Selection()
    review: Review = Review()
    variance: Variance = Variance()
    routes: dict[str, Route]
    special: dict[str, SpecialRule]

    @model_validator(mode="after")
    def _routes_cover_design(self) -> PortalRules:
        owner: dict[str, str] = {}
        for rule_id, route in self.routes.items():
            for cat in route.categories:
                if not X12_CATEGORY.match(cat):
                    raise ValueError(f"routes.{rule_id}: {cat!r} is not an X12 claim status category")
                if cat in owner:
                    raise ValueError(f"routes.{rule_id}: category {cat} is already routed by {owner[cat]}")
                owner[cat] = rule_id
                # E0-E4 mean the payer could not answer: a system fault to retry, never a decision.
                if (cat.startswith("E")) != (route.action == "system_fault"):
                    raise ValueError(f"routes.{rule_id}: category {cat} must "
                                     f"{'' if cat.startswith('E') else 'not '}be a 'system_fault' route")
            if route.billing_status and route.billing_status not in self.billing_statuses:
                raise ValueError(f"routes.{rule_id}: billing_status {route.billing_status!r} is not one of "
                                 f"billing_statuses")
            if route.check_variance and route.categories != ["F1"]:
                raise ValueError(f"routes.{rule_id}: check_variance applies to the F1 (paid) route only")
        missing = sorted(DESIGN_CATEGORIES - set(owner))
        if missing:
            raise ValueError(f"categories without a route: {', '.join(missing)}")
        absent = [r for r in SPECIAL_RULES if r not in self.special]
        if absent:
            raise ValueError(f"special rules missing: {', '.join(absent)}")
        return self

    def route_for(self, category: str) -> tuple[str, Route] | None:
        for rule_id, route in self.routes.items():
            if category in route.categories:
                return rule_id, route
        return None


def load_rules(config_dir: Path) -> PortalRules:
    return load_toml_model(config_dir / RULES_FILE, PortalRules)
