"""What every rule shares: the claim view it reads, what it returns, its parameters, the registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from bots.claim_edits.codes import CodeSet
from bots.claim_edits.reference import ReferenceData
from bots.core.claims import Claim, ServiceLine

__all__ = [
    "REGISTRY", "ClaimView", "Codes", "Escalation", "Evaluation", "Finding", "Modifiers", "RuleDef", "RuleFn",
    "RuleParams", "lines_text", "money", "rule", "single",
]


class ClaimView:
    """A claim as the rules read it, with the groupings several rules need built once per claim."""

    __slots__ = ("claim", "lines", "line_nos", "_by_dos")

    def __init__(self, claim: Claim):
        self.claim = claim
        self.lines = claim.lines
        self.line_nos = [ln.line_no for ln in claim.lines]
        self._by_dos: dict[str, list[ServiceLine]] | None = None

    @property
    def by_dos(self) -> dict[str, list[ServiceLine]]:
        """Lines by date of service (a line without its own date takes the claim's)."""
        if self._by_dos is None:
            out: dict[str, list[ServiceLine]] = {}
            dos = self.claim.date_of_service
            for ln in self.lines:
                out.setdefault(ln.date_of_service or dos, []).append(ln)
            self._by_dos = out
        return self._by_dos


# ---- what a rule returns --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Finding:
    """One problem a person must resolve; becomes one exception row."""

    reason: str
    detail: str  # stable key for the deterministic exception id (codes, dates), never free text
    line_no: int | None = None
    evidence: str = ""
    review_level: str | None = None  # None: the rule's configured level
    codes: tuple[str, ...] = ()  # procedure codes involved (denial-pattern escalation matches on them)


@dataclass(frozen=True, slots=True)
class Escalation:
    """Raise other findings on this claim to Senior review (all of them, or those on ``codes``)."""

    reason: str
    codes: frozenset[str] | None = None


@dataclass(slots=True)
class Evaluation:
    findings: list[Finding] = field(default_factory=list)
    checked: list[int] = field(default_factory=list)  # line numbers the rule applied to
    detail: dict[str, Any] | None = None  # extra facts for the audit record
    escalation: Escalation | None = None

    @property
    def failed(self) -> bool:
        return bool(self.findings) or self.escalation is not None


class RuleParams(BaseModel):
    """Base for a rule's ``params`` table in config/rules/claim_edits.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def _codes(value: Any) -> CodeSet:
    if isinstance(value, CodeSet):
        return value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of procedure codes or ranges such as \"99202-99215\"")
    return CodeSet(value)


def _modifiers(value: Any) -> frozenset[str]:
    if not isinstance(value, list | tuple | set | frozenset) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of 2-character modifiers")
    return frozenset(v.strip().upper() for v in value)


Codes = Annotated[CodeSet, BeforeValidator(_codes)]
Modifiers = Annotated[frozenset[str], BeforeValidator(_modifiers)]

RuleFn = Callable[[ClaimView, Any, ReferenceData], Evaluation]


@dataclass(frozen=True)
class RuleDef:
    rule_id: str
    fn: RuleFn
    params: type[RuleParams]


REGISTRY: dict[str, RuleDef] = {}


def rule(rule_id: str, params: type[RuleParams] = RuleParams) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        REGISTRY[rule_id] = RuleDef(rule_id, fn, params)
        return fn
    return register


# ---- wording helpers -------------------------------------------------------------------------------

def lines_text(nos: Sequence[int]) -> str:
    return f"line {nos[0]}" if len(nos) == 1 else "lines " + ", ".join(str(n) for n in nos)


def single(nos: Sequence[int]) -> int | None:
    return nos[0] if len(nos) == 1 else None


def money(v: float) -> str:
    return f"${v:,.2f}"
