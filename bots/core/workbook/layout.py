"""What the exception workbook looks like: sheets, columns, choices, colours.

DESIGN section 7 fixes the sheet names and the column order (bot-owned, then
coder-owned); ``config/workbook.toml`` supplies what varies per site: the
Resolution choices of each queue (status_sync maps them to billing statuses)
and the Review Level colours. The reader, the renderer and the merge all take
their column knowledge from here, so a column is added in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bots.core.lifecycle import CoderStatus
from bots.core.settings import Settings, load_toml_model

__all__ = [
    "BOT_COLUMNS", "CODER_COLUMNS", "CODER_FIELDS", "COLUMNS", "QUEUE_SHEETS", "STATUSES",
    "SUMMARY_SHEET", "Column", "WorkbookLayout", "column_letter", "load_layout", "sheet_title",
]

SUMMARY_SHEET = "Summary"
QUEUE_SHEETS = (
    "Coding Queries", "Claim Edits", "Documentation Requests", "Denials", "Payment Variances", "Bot Failures",
)
STATUSES = tuple(s.value for s in CoderStatus)  # the Status dropdown; a blank cell reads as the first


@dataclass(frozen=True)
class Column:
    """One workbook column: its header, the ``exceptions`` field behind it, and how to show it.

    ``kind`` drives the cell type: ``text``, ``int``, ``money``, ``date`` (ISO
    date in the store), ``datetime`` (ISO UTC timestamp in the store, shown in
    the configured time zone) or ``link`` (a file path, shown as a hyperlink).
    """

    header: str
    field: str
    width: float
    kind: str = "text"
    coder: bool = False


BOT_COLUMNS = (
    Column("Exception ID", "exception_id", 17),
    Column("Claim ID", "claim_id", 14),
    Column("Line", "line_no", 6, "int"),
    Column("Payer", "payer_id", 10),
    Column("Patient", "patient", 22),
    Column("DOS", "dos", 11, "date"),
    Column("Amount", "amount", 11, "money"),
    Column("Rule ID", "rule_id", 20),
    Column("Rule Version", "rule_version", 8),
    Column("Reason", "reason", 50),
    Column("Evidence", "evidence", 36),
    Column("Evidence File", "evidence_file", 26, "link"),
    Column("Review Level", "review_level", 9),
    Column("Priority", "priority", 9),
    Column("Bot", "bot", 13),
    Column("Run ID", "run_id", 32),
    Column("First Seen", "first_seen", 17, "datetime"),
    Column("Last Seen", "last_seen", 17, "datetime"),
    Column("Times Seen", "times_seen", 7, "int"),
    Column("Bot Status", "bot_status", 9),
    Column("Bot Check", "bot_check", 38),
)
CODER_COLUMNS = (
    Column("Assigned To", "assigned_to", 16, coder=True),
    Column("Status", "status", 12, coder=True),
    Column("Resolution", "resolution", 26, coder=True),
    Column("Resolution Note", "resolution_note", 44, coder=True),
    Column("Resolved By", "resolved_by", 16, coder=True),
    Column("Resolved On", "resolved_on", 12, "date", coder=True),
)
COLUMNS = BOT_COLUMNS + CODER_COLUMNS
CODER_FIELDS = tuple(c.field for c in CODER_COLUMNS)

_HEX = re.compile(r"^[0-9A-Fa-f]{6}$")
_UNSAFE_TITLE = re.compile(r"[\[\]:*?/\\]")


def column_letter(index: int) -> str:
    """1 -> A, 27 -> AA (spreadsheet column names)."""
    name = ""
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def sheet_title(queue: str) -> str:
    """The sheet a queue's rows go to. A queue outside DESIGN's list still gets its
    own sheet (rows are never dropped), with a name Excel accepts."""
    return queue if queue in QUEUE_SHEETS else (_UNSAFE_TITLE.sub("-", queue).strip("'") or "Other")[:31]


_DEFAULT_RESOLUTIONS: dict[str, list[str]] = {
    "Coding Queries": ["Coding updated", "Provider query answered", "Documentation supports coding",
                       "No change needed"],
    "Claim Edits": ["Corrected claim", "Coding updated", "Modifier corrected", "Units corrected",
                    "Documentation added", "Edit overridden (documented)", "Void claim"],
    "Documentation Requests": ["Records sent", "Records uploaded to portal", "Provider query sent",
                               "Unable to obtain"],
    "Denials": ["Appeal", "Corrected claim", "Write-off", "Patient responsibility",
                "Reconsideration requested", "Bill secondary payer"],
    "Payment Variances": ["Underpayment appeal", "Contract adjustment", "Posted as paid", "Refund requested",
                          "Write-off"],
    "Bot Failures": ["Retry by bot", "Done by hand", "Claim not found", "Escalated to IT"],
}


class Colours(BaseModel):
    """Fill colours (RGB hex) of a row's bot-owned cells by Review Level, and of rows
    the bots no longer report (Cleared) or already synced."""

    model_config = ConfigDict(extra="forbid")

    entry: str = "DDEBF7"
    senior: str = "FCE4D6"
    closed: str = "EDEDED"

    @field_validator("entry", "senior", "closed")
    @classmethod
    def _hex(cls, v: str) -> str:
        v = v.lstrip("#")
        if not _HEX.match(v):
            raise ValueError(f"expected a colour like 'DDEBF7' (six hex digits), got {v!r}")
        return v.upper()


class WorkbookLayout(BaseModel):
    """The shape of ``config/workbook.toml``."""

    model_config = ConfigDict(extra="forbid")

    resolutions: dict[str, list[str]] = Field(default_factory=lambda: dict(_DEFAULT_RESOLUTIONS))
    colours: Colours = Colours()

    @field_validator("resolutions")
    @classmethod
    def _dropdown_lists(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for queue, choices in v.items():
            if not choices:
                raise ValueError(f"queue {queue!r} needs at least one resolution")
            for choice in choices:
                # The dropdown is an inline list: commas separate items and Excel
                # caps the whole list at 255 characters.
                if not choice.strip() or "," in choice or '"' in choice:
                    raise ValueError(f"queue {queue!r}: resolution {choice!r} must be non-empty, "
                                     "without commas or double quotes")
            if len(",".join(choices)) > 255:
                raise ValueError(f"queue {queue!r}: resolutions add up to more than 255 characters "
                                 "(Excel's limit for a dropdown list)")
        return v

    @model_validator(mode="after")
    def _every_queue(self) -> WorkbookLayout:
        missing = [q for q in QUEUE_SHEETS if q not in self.resolutions]
        if missing:
            raise ValueError(f"resolutions missing for queue(s): {', '.join(missing)}")
        return self

    def choices(self, queue: str) -> list[str]:
        """Resolution choices of a queue; an unknown queue gets every choice that fits
        in one dropdown."""
        if queue in self.resolutions:
            return self.resolutions[queue]
        merged: list[str] = []
        for choices in self.resolutions.values():
            for choice in choices:
                if choice not in merged and len(",".join([*merged, choice])) <= 255:
                    merged.append(choice)
        return merged


def load_layout(settings: Settings) -> WorkbookLayout:
    """``config/workbook.toml`` if present, else the built-in defaults (the same lists)."""
    path: Path = settings.config_file("workbook.toml")
    if not path.exists():
        return WorkbookLayout()
    return load_toml_model(path, WorkbookLayout)
