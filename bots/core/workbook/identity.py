"""Which store row each workbook row is, and which rows the file no longer shows.

A row is matched by its Exception ID, but the ID is a cell a coder can overwrite (the sheet
must be unprotected to sort, and then every cell is editable). Copying one row's ID onto
another row would apply one claim's resolution to another claim, so an ID is believed only
when the row also shows the bot-owned cells that cannot legitimately change under it
(``reader.IDENTITY_COLUMNS``: Claim ID, Rule ID), and only when no other row shows it too.
A row that fails either test is *held*: its entries are not merged, the next write shows it
again as the coder left it (same ID, same typed cells) with a Bot Check saying what to fix,
and the store rows concerned get a Bot Check too, so nothing of theirs syncs meanwhile.

Rows the last write put in the file that are no longer in it (a deleted row or sheet) are
written again from the store; whatever was typed on them after the last merge is gone with
the row, and that is said (Bot Check, Summary, audit), never left silent.

No guessing: the original ID of a held row is only *suggested* (the one store row with the
same claim and rule that the file does not show), never put back by the bots.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bots.core.workbook.checks import ID_CHECK, MISSING_CHECK, merged_bot_check
from bots.core.workbook.layout import COLUMNS
from bots.core.workbook.reader import IDENTITY_COLUMNS, ReadBack, SeenRow, shown_text

__all__ = ["HeldRow", "Identity", "check_identity", "missing_message"]

_HEADERS = {f: h for h, f in IDENTITY_COLUMNS}


@dataclass
class HeldRow:
    """A file row whose entries were not merged, to be written again as the coder left it.

    ``store_id`` is the store row it stands for (its bot-owned cells are shown), or None when
    no store row could be told (then only the cells the file showed are written)."""

    seen: SeenRow
    shown_id: str
    store_id: str | None
    message: str


@dataclass
class Identity:
    """The outcome for one read: IDs not to merge, held rows, Bot Checks for store rows."""

    skip: set[str] = field(default_factory=set)
    held: list[HeldRow] = field(default_factory=list)
    checks: dict[str, list[str]] = field(default_factory=dict)  # store exception id -> own messages
    missing: list[str] = field(default_factory=list)  # store rows restored because the file lost them

    def covered(self) -> set[str]:
        """Store rows a held row stands for: shown in the file, even if under another ID."""
        return {h.store_id for h in self.held if h.store_id}

    def display_rows(self, by_id: Mapping[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """Held rows as rows to render: the store row's cells (or only what the file showed),
        the ID and coder cells as the coder left them, this row's Bot Check (with other bots'
        messages on the store row). ``_pos`` is the row's place in the file."""
        out = []
        for h in self.held:
            base = by_id.get(h.store_id) if h.store_id else None
            if base is None:
                row = dict.fromkeys((*(c.field for c in COLUMNS), "queue", "coder_updated_at"))
                row.update(h.seen.shown, queue=h.seen.sheet)
            else:
                row = dict(base)
            row.update(h.seen.values)
            row.update(exception_id=h.shown_id, bot_check=merged_bot_check(row["bot_check"], [h.message], False),
                       _pos=h.seen.pos)
            out.append(row)
        return out


def missing_message(written_at: str) -> str:
    """The Bot Check of a restored row (``written_at``: when the file that lost it was written)."""
    return (f"{MISSING_CHECK} written at {written_at} (row or sheet deleted?) and was put back with the entries "
            "last saved. Anything typed on it after that could not be read: please re-enter it")


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _where(rows: Sequence[SeenRow]) -> str:
    """``Claim Edits row 3 (claim CLM-1072)``: the claim too, since the rewrite may renumber rows."""
    return _join([f"{r.sheet} row {r.row}" + (f" (claim {r.shown['claim_id']})" if r.shown.get("claim_id") else "")
                  for r in rows])


def _identity_text(values: Mapping[str, Any]) -> str:
    return " / ".join(f"{_HEADERS[f].split()[0].lower()} {values.get(f) or '(blank)'}" for f in _HEADERS)


def _mismatch(seen: SeenRow, row: Mapping[str, Any]) -> bool:
    return any(shown != shown_text(row[f]) for f, shown in seen.shown.items())


def check_identity(readback: ReadBack | None, by_id: Mapping[str, dict[str, Any]],
                   expected: Collection[str]) -> Identity:
    """Decide which rows of ``readback`` may be merged.

    ``by_id``: the store's rows; ``expected``: the store rows the last write put in the file
    (rows missing from it are restored and reported). IDs the store does not know are left to
    the caller (a workbook from another installation).
    """
    out = Identity()
    if readback is None:
        return out
    # A store row is shown when a row with its ID also shows its claim and rule; the others
    # (ID overwritten, or on another claim's row only) are where a held row's original ID is.
    shown = {ex_id for ex_id, seen in readback.seen.items()
             if ex_id in by_id and any(not _mismatch(r, by_id[ex_id]) for r in seen)}
    by_claim: dict[tuple[Any, ...], list[str]] = {}
    for ex_id, row in by_id.items():
        if ex_id not in shown:
            by_claim.setdefault(tuple(shown_text(row[f]) for f in _HEADERS), []).append(ex_id)
    for ex_id, seen in readback.seen.items():
        own = by_id.get(ex_id)
        if own is None:
            continue
        if len(seen) == 1 and not _mismatch(seen[0], own):
            continue
        out.skip.add(ex_id)
        for r in seen:
            others = [o for o in seen if o is not r]
            if not _mismatch(r, own):
                message = (f"{ID_CHECK}{ex_id} is also on {_where(others)}: no entries on these rows are saved "
                           f"until the ID is on one row only. It belongs to this row ({_identity_text(own)}): "
                           "put back the original ID on the other row, or delete a copied row")
                out.held.append(HeldRow(r, ex_id, ex_id, message))
                continue
            key = tuple(r.shown.get(f, shown_text(own[f])) for f in _HEADERS)
            candidates = by_claim.get(key, [])
            original = candidates[0] if len(candidates) == 1 else None
            hint = f"({original})" if original else "(see the backups folder beside the workbook)"
            message = (f"{ID_CHECK}{ex_id} belongs to {_identity_text(own)}, but this row shows "
                       f"{_identity_text(r.shown)}: the ID was changed or copied. Put back the original ID {hint} "
                       "before this row can be saved")
            if others:
                message += f" ({ex_id} is also on {_where(others)})"
            out.held.append(HeldRow(r, ex_id, original, message))
    # The store rows concerned carry the messages of the rows standing for them, so nothing of
    # theirs syncs meanwhile; an ID no row stands for says where it was seen.
    for h in out.held:
        if h.store_id and h.message not in out.checks.setdefault(h.store_id, []):
            out.checks[h.store_id].append(h.message)
    for ex_id in out.skip:
        if ex_id not in out.checks:
            out.checks[ex_id] = [f"{ID_CHECK}{ex_id} is shown on {_where(readback.seen[ex_id])}, a row of another "
                                 "claim: nothing on it is saved until that row's original ID is put back"]
    covered = out.covered()
    out.missing = [ex_id for ex_id in expected if ex_id not in readback.seen and ex_id not in covered]
    return out
