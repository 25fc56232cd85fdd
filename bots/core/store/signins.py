"""Refused sign-ins, remembered across runs: a wrong password is tried once, not until the account locks.

A *block* is one refused sign-in to a site (the pool's name: a payer id, ``billing``) with one
credential. While it is active no run signs in to that site with that credential
(``bots.core.preflight``); ``bots health`` is CRITICAL and one alert goes out. It ends when an
operator clears it (``bots signin clear SITE``) or when the credential changes: the next run sees a
different fingerprint, records the block as superseded, and tries the new credential once.

The fingerprint is PBKDF2-HMAC-SHA256 over the credential's parts with a random per-database salt
(``meta`` key ``signin:salt``). It only has to tell "the same credential" from "a changed one"; the
salt keeps it from matching anything outside this database and the iterations make guessing a
password from it slow. The username and password themselves are never stored.
Every change (set, superseded, held run, cleared) is an audit record.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, inspect, select, update

from bots.core.store.audit import AuditEntry, AuditStore
from bots.core.store.base import iso as _iso, utcnow
from bots.core.store.schema import audit, signin_blocks

__all__ = ["SignInStore"]

_SALT_KEY = "signin:salt"
_ITERATIONS = 200_000  # about 0.1 s once per site and run: nothing for a run, a lot for a guesser


class SignInStore(AuditStore):
    # ---- the credential's identity --------------------------------------------------------------
    def credential_fingerprint(self, parts: Sequence[str | None]) -> str:
        """A salted, slow hash of the credential's parts (username, password, …; None counts as empty)."""
        self.claim_meta(_SALT_KEY, os.urandom(16).hex())  # the first caller sets it; everyone reads the same
        salt = bytes.fromhex(self.get_meta(_SALT_KEY))
        secret = "\0".join(p or "" for p in parts).encode()
        return hashlib.pbkdf2_hmac("sha256", secret, salt, _ITERATIONS).hex()

    # ---- blocks -------------------------------------------------------------------------------
    def signin_blocks(self, *, active: bool = True, site: str | None = None) -> list[dict[str, Any]]:
        """Blocks, oldest first (every column but the fingerprint); only active ones unless ``active=False``."""
        if not inspect(self._read_engine).has_table(signin_blocks.name):
            return []  # a database no release with this table has opened yet (``bots health`` reads only)
        cols = [c for c in signin_blocks.c if c.name != "fingerprint"]
        q = select(*cols).order_by(signin_blocks.c.id)
        if active:
            q = q.where(signin_blocks.c.cleared_at.is_(None))
        if site is not None:
            q = q.where(signin_blocks.c.site == site)
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def signin_block_for(self, site: str, fingerprint: str, *, bot: str, run_id: str | None) -> dict[str, Any] | None:
        """The active block that stops a sign-in to ``site`` with this credential, or None.

        An active block of a different credential is superseded here (the credential changed, so
        the new one gets its one try) and recorded as such; a matching one counts this run as held."""
        with self.begin() as conn:
            active = self._active(conn, site)
            if active is None:
                return None
            row = dict(active._mapping)
            detail = {"site": site, "block": row["id"]}
            if row["fingerprint"] != fingerprint:
                self._end(conn, row["id"], by="credential changed", reason="credential_changed")
                self.append_audit(conn, [AuditEntry(action="signin_block_superseded", result="credential_changed",
                                                    run_id=run_id, bot=bot, detail=detail)])
                return None
            conn.execute(update(signin_blocks).where(signin_blocks.c.id == row["id"])
                         .values(held_runs=signin_blocks.c.held_runs + 1))
            self.append_audit(conn, [AuditEntry(action="signin_held", result="not_tried", run_id=run_id, bot=bot,
                                                detail=detail)])
        row.pop("fingerprint")
        return row

    def record_signin_refused(self, *, site: str, fingerprint: str, bot: str, run_id: str | None,
                              message: str, origin: str = "", credential_envs: Sequence[str] = ()) -> bool:
        """Remember a refused sign-in; True when this made a new block (False: already blocked)."""
        with self.begin() as conn:
            active = self._active(conn, site)
            if active is not None and active.fingerprint == fingerprint:
                return False
            if active is not None:  # refused with a credential other than the blocked one
                self._end(conn, active.id, by="credential changed", reason="credential_changed")
            block_id = conn.execute(signin_blocks.insert().values(
                site=site, origin=origin, bot=bot, fingerprint=fingerprint,
                credential_envs=", ".join(credential_envs), run_id=run_id, message=message,
                blocked_at=_iso(utcnow()), held_runs=0)).inserted_primary_key[0]
            self.append_audit(conn, [AuditEntry(action="signin_blocked", result="blocked", run_id=run_id, bot=bot,
                                                detail={"site": site, "block": block_id, "origin": origin,
                                                        "message": message})])
        return True

    def clear_signin_block(self, site: str, *, by: str) -> int:
        """End the active block(s) of ``site`` on an operator's word; how many were active."""
        with self.begin() as conn:
            q = select(signin_blocks.c.id, signin_blocks.c.bot).where(signin_blocks.c.site == site,
                                                                     signin_blocks.c.cleared_at.is_(None))
            active = conn.execute(q).all()
            for row in active:
                self._end(conn, row.id, by=by, reason="operator")
            self.append_audit(conn, [AuditEntry(action="signin_block_cleared", result="cleared", bot=row.bot,
                                                detail={"site": site, "block": row.id, "by": by}) for row in active])
        return len(active)

    def runs_held_by_signin(self, run_ids: Sequence[str]) -> set[str]:
        """Of ``run_ids``, the runs whose every setup problem was a standing sign-in block: nothing new
        happened in them, so alerts leave them to the block's own alert."""
        if not run_ids:
            return set()
        q = (select(audit.c.run_id, audit.c.action, func.count().label("n"))
             .where(audit.c.run_id.in_(list(run_ids)), audit.c.action.in_(("signin_held", "preflight_failed")))
             .group_by(audit.c.run_id, audit.c.action))
        counts: dict[str, dict[str, int]] = {}
        with self.read() as conn:
            for row in conn.execute(q):
                counts.setdefault(row.run_id, {})[row.action] = row.n
        return {run for run, n in counts.items() if n.get("signin_held", 0) >= n.get("preflight_failed", 0) > 0}

    # ---- internals ----------------------------------------------------------------------------
    def _active(self, conn: Connection, site: str) -> Any:
        q = (select(signin_blocks).where(signin_blocks.c.site == site, signin_blocks.c.cleared_at.is_(None))
             .order_by(signin_blocks.c.id.desc()).limit(1))
        return conn.execute(q if self.is_sqlite else q.with_for_update()).first()

    def _end(self, conn: Connection, block_id: int, *, by: str, reason: str) -> None:
        conn.execute(update(signin_blocks).where(signin_blocks.c.id == block_id, signin_blocks.c.cleared_at.is_(None))
                     .values(cleared_at=_iso(utcnow()), cleared_by=by, clear_reason=reason))
