"""Who owns a row: the Assigned To the bots chose from the team roster (``workbook.assignment``).

Kept apart from the coder-edit mirror because this is the one coder column the bots write, and
only under the rule that makes it safe: a row's ``assigned_by_bot`` remembers the bots' choice,
so a name a coder typed over it is never replaced.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, bindparam, update

from bots.core.store.base import StoreBase
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
