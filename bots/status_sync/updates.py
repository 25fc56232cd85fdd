"""What one status_sync work item asks for, and the note it leaves in billing.

Two kinds of item, one shape once read:

- **status**: a billing status another bot handed over (a ``StatusUpdate`` intent, queued by
  ``Store.queue_status_updates``; reference ``payer:claim|status|exception_id``), e.g.
  payer_portal's *Paid* after a lookup.
- **resolution**: a workbook row a coder marked Resolved with complete evidence (reference
  ``resolution:<exception_id>``), enqueued by status_sync itself; the billing status comes
  from ``[resolutions]`` in ``config/billing.toml`` when the item is processed.

The note written to billing is built from the item alone (never from the time or the
status_sync run), so the same item always writes the same note: a retry after a save whose
confirmation was lost reads back exactly what it would have written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from bots.core.claims import claim_key
from bots.core.store import WorkItemSpec, digest
from bots.status_sync.config import BillingConfig

__all__ = ["RESOLUTION_PREFIX", "BadItem", "Update", "is_resolution", "note_text", "resolution_item"]

RESOLUTION_PREFIX = "resolution:"


def is_resolution(reference: str) -> bool:
    return reference.startswith(RESOLUTION_PREFIX)


def note_text(text: str) -> str:
    """How notes are compared: the page reads text with runs of whitespace collapsed."""
    return " ".join(text.split())


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StatusPayload(_Payload):
    """Queued by another bot (``Store.queue_status_updates``)."""

    claim_id: str
    payer_id: str
    status: str
    note: str = ""
    source_bot: str
    source_run: str
    exception_id: str | None = None
    resolution: str | None = None


class ResolutionPayload(_Payload):
    """Enqueued by status_sync from a resolved workbook row."""

    kind: Literal["resolution"]
    exception_id: str
    claim_id: str | None
    payer_id: str | None
    queue: str
    resolution: str
    resolution_note: str
    resolved_by: str
    submission_ref: str | None = None  # an Appeal Preparation row's: billing's note cites it


class BadItem(ValueError):
    """A work item's payload is not what status_sync queues or reads."""


@dataclass(frozen=True)
class Update:
    """One billing update, ready to apply. ``status`` is ``None`` for a resolution that
    ``[resolutions]`` does not map (or one that needs no billing change)."""

    kind: Literal["status", "resolution"]
    claim_id: str | None
    payer_id: str | None
    status: str | None
    note: str
    queue: str                     # where an exception about this update goes
    source_bot: str | None = None
    source_run: str | None = None
    exception_id: str | None = None
    resolution: str | None = None
    resolved_by: str | None = None
    no_billing_change: bool = False

    @classmethod
    def from_item(cls, reference: str, payload: dict[str, Any], config: BillingConfig) -> Update:
        try:
            if is_resolution(reference):
                return cls._resolution(ResolutionPayload.model_validate(payload), config)
            return cls._status(StatusPayload.model_validate(payload), config)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise BadItem(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None

    @classmethod
    def _status(cls, p: StatusPayload, config: BillingConfig) -> Update:
        note = f"rcm-bots {p.source_bot} run {p.source_run}: {p.note or p.status}"
        if p.exception_id:
            note += f" (exception {p.exception_id})"
        # A bot's update that billing will not take (a status it does not offer, a refused save)
        # is a problem with the claim's billing record: Claim Edits, where claim fixes are worked.
        return cls("status", p.claim_id, p.payer_id, p.status, _cut(note, config.note_max_length), "Claim Edits",
                   source_bot=p.source_bot, source_run=p.source_run, exception_id=p.exception_id,
                   resolution=p.resolution)

    @classmethod
    def _resolution(cls, p: ResolutionPayload, config: BillingConfig) -> Update:
        note = (f'rcm-bots: coder resolution "{p.resolution}" by {p.resolved_by} for {p.exception_id}; '
                f"note: {p.resolution_note}")
        if p.submission_ref:
            note += f"; submission ref: {p.submission_ref}"
        return cls("resolution", p.claim_id, p.payer_id, config.status_for(p.resolution),
                   _cut(note, config.note_max_length), p.queue, exception_id=p.exception_id,
                   resolution=p.resolution, resolved_by=p.resolved_by,
                   no_billing_change=p.resolution in config.no_billing_change)

    @property
    def billing_note(self) -> str:
        return note_text(self.note)


def _cut(note: str, limit: int) -> str:
    return note if len(note) <= limit else note[:limit - 1].rstrip() + "…"


def _sort_key(coder_updated_at: str | None) -> str:
    """The local-time sort key ``Store.queue_status_updates`` uses, for the moment the coder's edit
    was read: a resolution then takes its place among the queued updates by time."""
    if coder_updated_at:
        try:
            return datetime.fromisoformat(coder_updated_at).replace(tzinfo=UTC).astimezone().strftime("%Y%m%d%H%M%S%f")
        except ValueError:
            pass
    return datetime.now().strftime("%Y%m%d%H%M%S%f")


def resolution_item(row: dict[str, Any], config: BillingConfig) -> WorkItemSpec:
    """The work item for a ready workbook row (``Store.ready_resolutions``).

    The digest covers the resolution, its note and the billing status it maps to now: a coder
    who changes the resolution, or IT mapping a resolution that was missing from
    ``[resolutions]``, starts a new cycle of the item.
    """
    payload = {"kind": "resolution", "exception_id": row["exception_id"], "claim_id": row["claim_id"],
               "payer_id": row["payer_id"], "queue": row["queue"], "resolution": row["resolution"],
               "resolution_note": row["resolution_note"], "resolved_by": row["resolved_by"]}
    if row.get("submission_ref"):
        payload["submission_ref"] = row["submission_ref"]
    key = claim_key(row["payer_id"] or "", row["claim_id"]) if row["claim_id"] else None
    return WorkItemSpec(
        reference=RESOLUTION_PREFIX + row["exception_id"], claim_key=key, payload=payload,
        digest=digest([row["resolution"], row["resolution_note"], config.status_for(row["resolution"]),
                       *([row["submission_ref"]] if row.get("submission_ref") else [])]),
        sort_key=_sort_key(row["coder_updated_at"]))
