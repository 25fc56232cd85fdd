"""What the exception workbook looks like: sheets, columns, choices, colours.

DESIGN section 7 fixes the sheet names; the column order is the one a coder works in
(identity frozen on the left, the reason and evidence, the coder's columns, the bots'
answers, the bots' bookkeeping collapsed at the right); ``config/workbook.toml`` supplies what varies per site: the
Resolution choices of each queue (status_sync maps them to billing statuses)
and the Review Level colours. The reader, the renderer and the merge all take
their column knowledge from here, so a column is added in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bots.core.lifecycle import APPEAL_PREPARATION, INPUT_PROBLEMS, OPERATOR_QUEUES, CoderStatus
from bots.core.settings import Settings, load_toml_model

__all__ = [
    "APPEAL_DOC_PREFIX", "APPEAL_EVIDENCE_COLUMNS", "APPEAL_PREPARATION", "APPEAL_SUBMITTED", "BOT_COLUMNS",
    "CODER_COLUMNS", "CODER_FIELDS", "COLUMNS", "FROZEN_COLUMNS", "INPUT_PROBLEMS", "LISTS_SHEET",
    "QA_RESULTS", "QUALITY_COLUMNS", "QUALITY_FIELDS", "QUALITY_SHEET", "QUEUE_SHEETS",
    "STATUSES",
    "SUMMARY_SHEET", "Column", "WorkbookLayout", "appeal_columns", "column_letter", "load_layout", "print_setup",
    "sheet_title",
]

SUMMARY_SHEET = "Summary"
LISTS_SHEET = "Lists"  # hidden: the team roster's names the person columns' dropdowns read
QUEUE_SHEETS = (
    "Coding Queries", "Claim Edits", "Documentation Requests", "Denials", "Payment Variances", APPEAL_PREPARATION,
    "Bot Failures", INPUT_PROBLEMS,
)
STATUSES = tuple(s.value for s in CoderStatus)  # the Status dropdown; a blank cell reads as the first


@dataclass(frozen=True)
class Column:
    """One workbook column: its header, the ``exceptions`` field behind it, and how to show it.

    ``kind`` drives the cell type: ``text``, ``int``, ``money``, ``date`` (ISO
    date in the store), ``datetime`` (ISO UTC timestamp in the store, shown in
    the configured time zone) or ``link`` (a file path, shown as a hyperlink).
    ``width`` is the least width; a column grows to fit its values up to ``max_width``.
    ``wrap`` columns wrap their text (and rows grow to show it); ``bookkeeping`` columns are
    the bots' own records, grouped at the far right and collapsed. ``note`` is the header
    cell's comment: what the column is and, for coder columns, what it takes.
    """

    header: str
    field: str
    width: float
    kind: str = "text"
    coder: bool = False
    max_width: float | None = None
    wrap: bool = False
    bookkeeping: bool = False
    note: str = ""
    optional: bool = False  # added after files were written: a file without it merges without a problem
    person: bool = False  # takes a name from the team roster (a dropdown of the names when there is one)


# The order a coder works in: who and what (frozen on the left), why, the evidence, then their
# own columns, then what the bots say back, then the bots' bookkeeping (collapsed). The reader
# finds columns by header, so a file written in an older order still merges.
COLUMNS = (
    Column("Exception ID", "exception_id", 16, note="The row's identity. Do not change or copy it: edits are "
                                                    "matched to the bots' records by this ID."),
    Column("Claim ID", "claim_id", 12, max_width=24),
    Column("Review Level", "review_level", 9, note="Entry: any coder may resolve. Senior: needs a senior "
                                                   "reviewer's sign-off. The row colour repeats this."),
    Column("Priority", "priority", 8),
    Column("Line", "line_no", 5, "int"),
    Column("Payer", "payer_id", 8, max_width=16),
    Column("Patient", "patient", 14, max_width=24),
    Column("DOS", "dos", 11, "date"),
    Column("Amount", "amount", 10, "money"),
    Column("Rule ID", "rule_id", 12, max_width=24),
    Column("Reason", "reason", 60, wrap=True, note="Why the bots sent this row to a person, in full."),
    Column("Evidence File", "evidence_file", 14, "link", max_width=30,
           note="A screenshot or saved page: click to open it."),
    Column("Assigned To", "assigned_to", 14, coder=True, max_width=22, person=True,
           note="Who works this row (the bots fill it from the team roster). Choose a name to take it "
                "or pass it on; the bots never replace a name you chose."),
    Column("Status", "status", 11, coder=True,
           note="New, In Progress, Resolved or Escalated (choose from the list)."),
    Column("Resolution", "resolution", 22, coder=True, max_width=30,
           note="What was done: choose from this sheet's list. Needed to resolve."),
    Column("Resolution Note", "resolution_note", 40, coder=True, wrap=True,
           note="The evidence for the resolution (what you checked, what you changed). Needed to resolve."),
    Column("Resolved By", "resolved_by", 14, coder=True, max_width=22, person=True,
           note="Your name. Needed to resolve. A Senior row needs a senior's name here."),
    Column("Resolved On", "resolved_on", 11, "date", coder=True, note="The date you resolved it, e.g. 2026-11-03. "
                                                                      "Needed to resolve."),
    Column("Escalated To", "escalated_to", 14, coder=True, max_width=22, person=True, optional=True,
           note="With Status Escalated: the senior who takes the row (and say why in Resolution Note). "
                "The row becomes a Senior row."),
    Column("Bot Check", "bot_check", 30, wrap=True, note="What the bots found missing or wrong in your edits; "
                                                         "empty when all is well."),
    Column("Bot Status", "bot_status", 9, note="Open: the bots still find it. Synced: your resolution was "
                                               "applied. Cleared: the bots no longer find it."),
    Column("Evidence", "evidence", 30, max_width=50, note="What the bot read: the rule's inputs or the page's text."),
    Column("Rule Version", "rule_version", 8),
    Column("Bot", "bot", 11),
    Column("Run ID", "run_id", 30, bookkeeping=True),
    Column("First Seen", "first_seen", 16, "datetime", bookkeeping=True),
    Column("Last Seen", "last_seen", 16, "datetime", bookkeeping=True),
    Column("Times Seen", "times_seen", 7, "int", bookkeeping=True),
)
FROZEN_COLUMNS = 2  # Exception ID and Claim ID stay in view while a coder scrolls right

# The Quality Review sheet (``bots.core.quality``): one row per sampled decision. Its own column set:
# what was decided, by whom and on what evidence (the bots'), then the reviewer's columns.
QUALITY_SHEET = "Quality Review"
QA_RESULTS = ("Pass", "Fail")
QUALITY_COLUMNS = (
    Column("Sample ID", "sample_id", 16, note="The sample's identity. Do not change or copy it: QA entries are "
                                              "matched to the bots' records by this ID and its Decision Ref."),
    Column("Decision Ref", "decision_ref", 24, max_width=44,
           note="Which decision: bot|item|run for a bot's, or exception row|coder|date for a coder's."),
    Column("Kind", "kind", 14, max_width=18, note="claim_clean, portal_paid, status_applied or coder_resolution."),
    Column("Claim ID", "claim_id", 12, max_width=24),
    Column("Queue", "queue", 14, max_width=22, note="Where a Fail opens its follow-up row."),
    Column("Decided By", "decided_by", 14, max_width=22, note="The bot, or the coder who resolved the row."),
    Column("Rule ID", "rule_id", 12, max_width=24),
    Column("Rule Version", "rule_version", 8),
    Column("Decision", "decision", 30, wrap=True, note="What was decided."),
    Column("Evidence", "evidence", 30, max_width=50, wrap=True, note="What the decision rests on."),
    Column("Evidence File", "evidence_file", 14, "link", max_width=30, note="A screenshot or saved page: click it."),
    Column("QA Reviewer", "qa_reviewer", 14, coder=True, max_width=22, person=True,
           note="Who reviews it (the bots fill it): a qa or senior on the roster, never the person who decided."),
    Column("QA Result", "qa_result", 9, coder=True, note="Pass or Fail (choose from the list)."),
    Column("Finding Category", "finding_category", 22, coder=True, max_width=30,
           note="Needed with Fail: choose from the list (config/quality.toml)."),
    Column("QA Note", "qa_note", 40, coder=True, wrap=True, note="Needed with Fail: what is wrong and why."),
    Column("Bot Check", "bot_check", 30, wrap=True, note="What the bots found missing or wrong in the QA entries."),
    Column("Bot Status", "bot_status", 9, note="Open: awaiting review. Synced: the review was recorded (a Fail "
                                               "opened its follow-up row). Cleared: the decision no longer stands."),
    Column("Follow-up Row", "followup_id", 16, note="The exception row a Fail opened (overturned in QA, or rework)."),
    Column("Period", "period", 9, bookkeeping=True),
    Column("Sampled", "reason", 9, bookkeeping=True, note="rate, or minimum (the coder's weekly minimum)."),
    Column("Decided At", "decided_at", 16, bookkeeping=True),
)
QUALITY_FIELDS = tuple(c.field for c in QUALITY_COLUMNS if c.coder)

# The Appeal Preparation sheet (``workbook/appeals.py``): a queue sheet whose rows are exception rows
# (Status … Resolved On as everywhere), with the appeal's own columns around them: what is appealed
# and by when (the bots'), and the documents and submission details (the coder's). One checklist
# column per document of config/appeals.toml ("Doc: <item>"); "n/a" where this denial needs none.
APPEAL_SUBMITTED = "Appeal submitted"  # the resolution that needs the appeal's evidence
APPEAL_DOC_PREFIX = "Doc: "
APPEAL_BOT_COLUMNS = (
    Column("Appealed Row", "source_id", 16, note="The Denials or Payment Variances row resolved with the appeal."),
    Column("Category", "category", 14, max_width=22, note="The denial category (config/appeals.toml) its "
                                                          "CARC codes fall in: it decides the documents."),
    Column("CARC", "carc", 10, max_width=24),
    Column("Counted From", "counted_from", 11, "date", note="The denial or remittance date the portal showed; "
                                                            "the payer file says which one its window counts from."),
    Column("Deadline", "deadline", 11, "date", note="The last day to submit the appeal (see Reason for how "
                                                    "it was worked out)."),
    Column("Days Left", "days_left", 7, "int", note="Days from today (when the workbook was written) to the "
                                                    "deadline; negative: past it."),
    Column("Deadline Flag", "deadline_flag", 14, note="near deadline: gaps this close to the deadline (the row "
                                                      "went to a senior). deadline missed: not submitted in time."),
)
APPEAL_EVIDENCE_COLUMNS = (
    Column("Appeal Letter Ref", "letter_ref", 16, coder=True, max_width=24,
           note="The appeal letter's reference (document id). Needed to resolve Appeal submitted."),
    Column("Submitted On", "submitted_on", 11, "date", coder=True,
           note="The date the appeal went to the payer, e.g. 2026-11-03. Needed to resolve Appeal submitted."),
    Column("Submission Ref", "submission_ref", 18, coder=True, max_width=30,
           note="The portal confirmation or tracking number. Needed to resolve Appeal submitted; billing's "
                "note cites it."),
)
APPEAL_OUTCOME = Column("Outcome", "outcome", 9, note="won or upheld: what a later portal read showed after the "
                                                      "appeal was submitted.")


def appeal_columns(items: tuple[str, ...] | list[str]) -> tuple[Column, ...]:
    """The Appeal Preparation sheet's columns for these checklist items (config/appeals.toml)."""
    docs = tuple(Column(APPEAL_DOC_PREFIX + item, APPEAL_DOC_PREFIX + item, 9, coder=True, max_width=14,
                        note=f"Yes when '{item}' is in hand (choose from the list); n/a: this denial does not "
                             "need it.") for item in items)
    out: list[Column] = []
    for col in COLUMNS:
        if col.field == "reason":
            out.extend(APPEAL_BOT_COLUMNS)
        if col.field == "assigned_to":
            out.extend((*docs, *APPEAL_EVIDENCE_COLUMNS))
        out.append(col)
        if col.field == "bot_status":
            out.append(APPEAL_OUTCOME)
    return tuple(out)
BOT_COLUMNS = tuple(c for c in COLUMNS if not c.coder)
CODER_COLUMNS = tuple(c for c in COLUMNS if c.coder)
CODER_FIELDS = tuple(c.field for c in CODER_COLUMNS)

_HEX = re.compile(r"^[0-9A-Fa-f]{6}$")
_UNSAFE_TITLE = re.compile(r"[\[\]:*?/\\]")


def print_setup(ws: Any, written: str, *, title_rows: str | None = "1:1") -> None:
    """Print on A4/Letter landscape, one page wide, the header row on every page, and a footer
    with the sheet's name, the page and when the workbook was written (``written``)."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as the rows need
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.gridLines = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    if title_rows:
        ws.print_title_rows = title_rows
    ws.oddFooter.left.text = "&A"
    ws.oddFooter.center.text = "Page &P of &N"
    ws.oddFooter.right.text = f"written {written.replace('&', '&&')}"


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
    APPEAL_PREPARATION: [APPEAL_SUBMITTED, "Appeal not pursued"],
    INPUT_PROBLEMS: ["Fixed at the source and reloaded", "Claim withdrawn", "Sent back to the sender"],
}
# Queues a site's workbook.toml may leave out: the built-in choices apply (files written before
# the queue existed stay valid).
_OPTIONAL_QUEUES = (INPUT_PROBLEMS, APPEAL_PREPARATION)


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
        for queue in _OPTIONAL_QUEUES:
            self.resolutions.setdefault(queue, list(_DEFAULT_RESOLUTIONS[queue]))
        missing = [q for q in QUEUE_SHEETS if q not in self.resolutions]
        if missing:
            raise ValueError(f"resolutions missing for queue(s): {', '.join(missing)}")
        return self

    def billing_choices(self) -> dict[str, list[str]]:
        """The resolutions status_sync must map to billing: every queue's but the operators'."""
        return {q: c for q, c in self.resolutions.items() if q not in OPERATOR_QUEUES}

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
