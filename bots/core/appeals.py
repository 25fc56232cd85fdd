"""Appeals (issue 15): which documents a denial's appeal needs, and when it is due.

``config/appeals.toml`` lists the denial categories: the CARC codes (``CO-50``) or reason codes
(``50``, any group) that put a denial in the category, and the checklist of documents its appeal
needs. A denial matching no category gets ``[default]``'s checklist. The deadline comes from the
payer file's ``[appeals]`` window (``core/payers.py``): ``window_days`` counted from the date the
portal showed, the denial date (the status date of a denial) or the remittance date (the paid
date), whichever the payer's contract counts from. Pure rules, no store: the workbook's appeal pass
(``workbook/appeals.py``) applies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bots.core.payers import AppealWindow
from bots.core.settings import Settings, load_toml_model

__all__ = ["APPEALS_FILE", "AppealsConfig", "Category", "Deadline", "deadline", "load_appeals"]

APPEALS_FILE = "appeals.toml"


def _item_name(v: str) -> str:
    # An item is a column header ("Doc: <item>") and a dropdown's neighbour: keep it short and plain.
    if not v.strip() or len(v) > 40 or any(ch in v for ch in ',";'):
        raise ValueError(f"checklist item {v!r} must be 1 to 40 characters, without commas, semicolons or quotes")
    return v.strip()


class Category(BaseModel):
    """One denial category: the codes that mean it and the documents its appeal needs."""

    model_config = ConfigDict(extra="forbid")

    carc: list[str] = Field(default_factory=list)  # "CO-50" (group and reason) or "50" (any group)
    items: list[str]

    @field_validator("carc")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        return [c.strip().upper() for c in v]

    @field_validator("items")
    @classmethod
    def _items(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("a category needs at least one checklist item")
        return [_item_name(i) for i in v]


class AppealsConfig(BaseModel):
    """The shape of ``config/appeals.toml``."""

    model_config = ConfigDict(extra="forbid")

    # Source resolutions (Denials, Payment Variances) that open an Appeal Preparation row.
    opened_by: list[str] = Field(default_factory=lambda: ["Appeal", "Reconsideration requested",
                                                          "Underpayment appeal"])
    near_deadline_days: int = Field(14, ge=0, le=365)  # gaps this close to the deadline go to a senior
    categories: dict[str, Category]
    default: Category

    @model_validator(mode="after")
    def _one_category_per_code(self) -> AppealsConfig:
        seen: dict[str, str] = {}
        for name, cat in self.categories.items():
            for code in cat.carc:
                if code in seen:
                    raise ValueError(f"CARC {code!r} is in categories {seen[code]!r} and {name!r}: one only")
                seen[code] = name
        return self

    @property
    def items(self) -> list[str]:
        """Every checklist item, in file order: the sheet's checklist columns."""
        out: list[str] = []
        for cat in (*self.categories.values(), self.default):
            out.extend(i for i in cat.items if i not in out)
        return out

    def category(self, carc_codes: list[str]) -> tuple[str, Category]:
        """The first category one of the denial's codes belongs to (full code before reason code)."""
        codes = [c.strip().upper() for c in carc_codes if c.strip()]
        for code in codes:
            for name, cat in self.categories.items():
                if code in cat.carc:
                    return name, cat
        for code in codes:
            reason = code.rsplit("-", 1)[-1]
            for name, cat in self.categories.items():
                if reason in cat.carc:
                    return name, cat
        return "Other", self.default


@dataclass(frozen=True)
class Deadline:
    """When an appeal is due and why; ``due`` None: the date it counts from was not shown."""

    due: date | None
    counted_from: date | None
    basis: str

    def days_left(self, today: date) -> int | None:
        return None if self.due is None else (self.due - today).days


def deadline(window: AppealWindow | None, payer_id: str, read: dict[str, Any]) -> Deadline:
    """The deadline from the payer's window and what the portal read showed (``status_read`` detail:
    ``status_date`` is the denial date, ``paid_date`` the remittance date). Never a guess: no window
    or no date means no deadline, and the basis says which is missing."""
    if window is None:
        return Deadline(None, None, f"no [appeals] window in config/payers/{payer_id}.toml")
    key = "status_date" if window.counts_from == "denial_date" else "paid_date"
    shown = read.get(key)
    label = window.counts_from.replace("_", " ")
    if not shown:
        return Deadline(None, None, f"the portal read showed no {label}; {window.window_days} days from it")
    start = date.fromisoformat(str(shown)[:10])
    return Deadline(start + timedelta(days=window.window_days), start,
                    f"{window.window_days} days from the {label} {start.isoformat()} (config/payers/{payer_id}.toml)")


def load_appeals(settings: Settings) -> AppealsConfig | None:
    """``config/appeals.toml`` validated, or None: no Appeal Preparation rows are opened."""
    path = settings.config_file(APPEALS_FILE)
    return load_toml_model(path, AppealsConfig) if path.exists() else None
