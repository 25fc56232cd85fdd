"""Who owns a row: the Assigned To the bots chose from the team roster (``workbook.assignment``).

Kept apart from the coder-edit mirror because this is the one coder column the bots write, and
only under the rule that makes it safe: a row's ``assigned_by_bot`` remembers the bots' choice,
so a name a coder typed over it is never replaced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, bindparam, update

from bots.core.store.base import StoreBase, chunks
from bots.core.store.schema import exceptions

__all__ = ["OwnershipStore"]


class OwnershipStore(StoreBase):
    def assign_rows(self, conn: Connection, owners: Mapping[str, str]) -> None:
        """Set Assigned To (and the bots' record of it) on these exception ids, in the caller's
        transaction; each row becomes pending so the next write shows its owner."""
        if not owners:
            return
        conn.execute(
            update(exceptions).where(exceptions.c.exception_id == bindparam("b_id"))
            .values(assigned_to=bindparam("b_name"), assigned_by_bot=bindparam("b_name"), written_at=None),
            [{"b_id": ex_id, "b_name": name} for ex_id, name in owners.items()])

    def escalate_rows(self, conn: Connection, exception_ids: Sequence[str], at: str) -> None:
        """These rows were escalated to a senior: Review Level Senior from now on (a rerun keeps it,
        ``RowStore.record_exceptions_many``), pending so the next write shows it."""
        for chunk in chunks(list(exception_ids), 500):
            conn.execute(update(exceptions).where(exceptions.c.exception_id.in_(chunk))
                         .values(review_level="Senior", escalated_at=at, written_at=None))
