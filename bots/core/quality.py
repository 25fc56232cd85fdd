"""Quality sampling (``config/quality.toml``): which decisions, the bots' and the coders', a QA
reviewer checks, chosen so an auditor can re-derive the sample.

Decision kinds:

- ``claim_clean``: claim_edits found nothing (every rule passed; audit ``item_outcome`` done);
- ``portal_paid``: payer_portal read a claim as paid as expected (``status_read`` F1 and the item
  done without an exception);
- ``status_applied``: status_sync wrote a billing status (``status_pushed``);
- ``coder_resolution``: a coder resolved a workbook row and it was applied or is ready to be.

A decision is sampled when ``sha256("{period}:{kind}:{ref}")``, read as a 256-bit number, is below
``rate * 2**256``: the period (ISO week of the decision, e.g. ``2026-W48``) and the decision's
reference are all it depends on, so the same decisions always give the same sample, a rerun adds
nothing, and :func:`rederive` recomputes it from the audit trail alone. A coder with fewer sampled
resolutions in a week than ``min_per_coder_per_week`` gets their lowest-hash resolutions added
(reason ``minimum``), up to that number. The seed inputs go into each ``qa_sampled`` audit record.

Without ``config/quality.toml`` nothing is sampled and the workbook has no Quality Review sheet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bots.core.settings import Settings, load_toml_model

__all__ = ["BOT_KINDS", "CODER_KIND", "QUALITY_FILE", "Decision", "QualityConfig", "bot_decisions",
           "is_sampled", "load_quality", "period_of", "rederive", "sample_hash", "sample_id"]

QUALITY_FILE = "quality.toml"
CODER_KIND = "coder_resolution"
# Bot decision kinds and the queue an overturned one opens its exception row in.
BOT_KINDS = {"claim_clean": "Claim Edits", "portal_paid": "Payment Variances", "status_applied": "Bot Failures"}
_TOP = 1 << 256

Rate = float


class BotRates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim_clean: Rate = Field(0.0, ge=0, le=1)
    portal_paid: Rate = Field(0.0, ge=0, le=1)
    status_applied: Rate = Field(0.0, ge=0, le=1)


class CoderRates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: Rate = Field(0.0, ge=0, le=1)  # every queue and review level not listed in ``queues``
    queues: dict[str, dict[str, Rate]] = Field(default_factory=dict)  # queue -> {"Entry"|"Senior": rate}
    min_per_coder_per_week: int = Field(0, ge=0, le=100)

    @field_validator("queues")
    @classmethod
    def _known(cls, v: dict[str, dict[str, Rate]]) -> dict[str, dict[str, Rate]]:
        from bots.core.workbook.layout import QUEUE_SHEETS

        for queue, levels in v.items():
            if queue not in QUEUE_SHEETS:
                raise ValueError(f"unknown queue {queue!r}; the queues are {', '.join(QUEUE_SHEETS)}")
            for level, rate in levels.items():
                if level not in ("Entry", "Senior"):
                    raise ValueError(f"queue {queue!r}: review level {level!r} is not Entry or Senior")
                if not 0 <= rate <= 1:
                    raise ValueError(f"queue {queue!r} {level}: rate {rate} is not between 0 and 1")
        return v

    def rate_for(self, queue: str, level: str) -> float:
        return self.queues.get(queue, {}).get(level, self.rate)


class QualityConfig(BaseModel):
    """The shape of ``config/quality.toml``."""

    model_config = ConfigDict(extra="forbid")

    bot: BotRates = BotRates()
    coder: CoderRates = CoderRates()
    finding_categories: list[str] = Field(min_length=1)

    @field_validator("finding_categories")
    @classmethod
    def _plain(cls, v: list[str]) -> list[str]:
        for category in v:
            if not category.strip() or not category.isprintable():
                raise ValueError(f"finding category {category!r} must be printable text")
        if len(set(v)) != len(v):
            raise ValueError("a finding category is listed twice")
        return v

    def bot_rate(self, kind: str) -> float:
        return float(getattr(self.bot, kind))


def load_quality(settings: Settings) -> QualityConfig | None:
    """``config/quality.toml`` validated, or None: no sampling."""
    path = settings.config_file(QUALITY_FILE)
    return load_toml_model(path, QualityConfig) if path.exists() else None


# ---- the sample ----------------------------------------------------------------------------------

def period_of(moment: str | date | datetime) -> str:
    """The ISO week of a decision: ``2026-W48``."""
    day = moment if isinstance(moment, date) else date.fromisoformat(str(moment)[:10])
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def sample_hash(period: str, kind: str, ref: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{period}:{kind}:{ref}".encode()).digest(), "big")


def is_sampled(period: str, kind: str, ref: str, rate: float) -> bool:
    """The sampling rule: the decision's hash is below ``rate`` of the hash space."""
    return sample_hash(period, kind, ref) < int(rate * _TOP)


def sample_id(kind: str, ref: str) -> str:
    """The Quality Review row's identity: deterministic, so a rerun never adds a duplicate."""
    return "QA-" + hashlib.sha256(f"{kind}|{ref}".encode()).hexdigest()[:12].upper()


@dataclass(frozen=True)
class Decision:
    """One decision that may be sampled: what was decided, by whom, and its evidence."""

    kind: str
    ref: str  # unique per decision: bot|item|run, or the exception row's id|resolver|date
    at: str  # ISO timestamp (or date) of the decision: its period
    decided_by: str  # the bot's name, or the coder's
    claim_id: str | None
    item_ref: str | None
    queue: str
    review_level: str
    rule_id: str | None
    rule_version: str | None
    what: str
    evidence: str
    evidence_file: str | None = None

    @property
    def period(self) -> str:
        return period_of(self.at)


def bot_decisions(records: Iterable[Mapping[str, Any]]) -> list[Decision]:
    """The bot-closed decisions in audit ``records`` (in chain order; those of one item's outcome
    commit together, so a batch of consecutive records holds an item whole)."""
    records = list(records)
    done = {(r["bot"], r["item_ref"], r["run_id"]) for r in records
            if r["action"] == "item_outcome" and r["result"] == "done"}
    rules: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for r in records:
        if r["action"] == "rule_evaluated":
            rules.setdefault((r["item_ref"], r["run_id"]), []).append((r["rule_id"] or "", r["rule_version"] or ""))
    out: list[Decision] = []
    for r in records:
        key = (r["bot"], r["item_ref"], r["run_id"])
        ref = "|".join(str(k or "") for k in key)
        if r["action"] == "item_outcome" and r["bot"] == "claim_edits" and key in done:
            passed = sorted(set(rules.get((r["item_ref"], r["run_id"]), [])))
            ruleset = hashlib.sha256(repr(passed).encode()).hexdigest()[:8] if passed else None
            shown = ", ".join(f"{rid} v{ver}" for rid, ver in passed) or "no rule applied"
            out.append(Decision("claim_clean", ref, r["ts"], "claim_edits", r["claim_id"], r["item_ref"],
                                BOT_KINDS["claim_clean"], "Entry", "ALL-RULES-PASSED", ruleset,
                                "claim passed every edit: no exception", f"rules passed: {shown}",
                                r.get("evidence_path")))
        elif r["action"] == "status_read" and r["bot"] == "payer_portal" and r["result"] == "F1" and key in done:
            out.append(Decision("portal_paid", ref, r["ts"], "payer_portal", r["claim_id"], r["item_ref"],
                                BOT_KINDS["portal_paid"], "Entry", r["rule_id"], r["rule_version"],
                                "read as paid as expected (X12 F1, no variance)",
                                _evidence(r), r.get("evidence_path")))
        elif r["action"] == "status_pushed":
            out.append(Decision("status_applied", ref, r["ts"], r["bot"] or "status_sync", r["claim_id"],
                                r["item_ref"], BOT_KINDS["status_applied"], "Entry", r["rule_id"], r["rule_version"],
                                "billing status written and read back", _evidence(r), r.get("evidence_path")))
    return out


def _evidence(record: Mapping[str, Any]) -> str:
    path, sha = record.get("evidence_path"), record.get("evidence_sha256")
    return f"audit record {record['seq']}" + (f"; snapshot sha256 {sha}" if path and sha else "")


def rederive(records: Iterable[Mapping[str, Any]], config: QualityConfig) -> set[str]:
    """The bot-closed decisions the audit trail says must be sampled (refs), by the rule alone:
    what an auditor recomputes to check the ``qa_sampled`` records."""
    return {d.ref for d in bot_decisions(records) if is_sampled(d.period, d.kind, d.ref, config.bot_rate(d.kind))}
