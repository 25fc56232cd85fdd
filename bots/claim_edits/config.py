"""``config/rules/claim_edits.toml``: which rules run, their versions, queues, review levels and parameters.

Each ``[rules.<RULE-ID>]`` table names a rule in the registry. Its ``params``
are validated against that rule's own model, so a typo names the file, the
rule and the key instead of surfacing mid-scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from bots.claim_edits.rules import REGISTRY, RuleFn
from bots.core.errors import ConfigError
from bots.core.settings import load_toml, load_toml_model

__all__ = ["ActiveRule", "ClaimEditsConfig", "RuleConfig", "RULES_FILE", "load_rules"]

RULES_FILE = Path("rules") / "claim_edits.toml"

Queue = Literal["Coding Queries", "Claim Edits", "Documentation Requests"]
ReviewLevel = Literal["Entry", "Senior"]
Version = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int | float) else v)]


class RuleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Version = Field(min_length=1, max_length=20)
    description: str = Field(min_length=1)
    queue: Queue
    review_level: ReviewLevel = "Entry"
    priority: Literal["Normal", "High"] = "Normal"
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)


class ClaimEditsConfig(BaseModel):
    """The shape of config/rules/claim_edits.toml."""

    model_config = ConfigDict(extra="forbid")

    ready_status: str = "Ready to submit"  # the billing work-queue status a clean claim gets
    rules: dict[str, RuleConfig]

    @field_validator("rules")
    @classmethod
    def _known(cls, v: dict[str, RuleConfig]) -> dict[str, RuleConfig]:
        unknown = sorted(set(v) - set(REGISTRY))
        if unknown:
            raise ValueError(f"unknown rule {unknown[0]!r}; known rules: {', '.join(sorted(REGISTRY))}")
        return v


@dataclass(frozen=True)
class ActiveRule:
    """A configured, enabled rule bound to its function and validated parameters."""

    rule_id: str
    version: str
    description: str
    queue: str
    review_level: str
    priority: str
    fn: RuleFn
    params: Any


def load_rules(path: Path) -> tuple[ClaimEditsConfig, list[ActiveRule]]:
    """Validate the rules file; return it and its enabled rules in file order."""
    raw = load_toml(path)
    config = load_toml_model(path, ClaimEditsConfig, data=raw)
    active = []
    for rule_id, rc in config.rules.items():
        model = REGISTRY[rule_id].params
        try:
            params = model.model_validate(rc.params)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                key = ".".join(["rules", rule_id, "params", *(str(p) for p in err["loc"])])
                value = err.get("input")
                shown = "" if isinstance(value, dict) else f" (value: {value!r})"
                problems.append(f"{path}: key '{key}': {err['msg']}{shown}")
            raise ConfigError("; ".join(problems)) from None
        if rc.enabled:
            active.append(ActiveRule(rule_id, rc.version, rc.description, rc.queue, rc.review_level, rc.priority,
                                     REGISTRY[rule_id].fn, params))
    return config, active
