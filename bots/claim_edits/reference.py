"""The reference data one scan consults: NCCI PTP and MUE tables, payer prior-auth lists, denial history.

Built once per run (the bot's session). The PTP table can hold well over a
million rows, so it is read lazily: the first claim that bills a code loads
that code's column-1 edits, and later claims reuse them. The scan pins the
table version it started with; if an import replaces that version mid-run,
the next lookup raises ``EditTableReplaced`` and the item is scanned again
next run against the new table, never against a mix of both.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Connection, select

from bots.claim_edits.tables import MUE, PTP, edit_table_versions, ncci_mue, ncci_ptp
from bots.core.errors import SystemFault
from bots.core.payers import Payers, load_payers
from bots.core.store import Store, utcnow

__all__ = [
    "EditTableReplaced", "MueLimit", "MueTable", "PtpEdit", "PtpTable", "ReferenceData",
    "load_denial_counts", "load_prior_auth_codes",
]

_LOOKUP_CHUNK = 400


class EditTableReplaced(SystemFault):
    """The edit table this run started with was replaced by an import; rescan next run."""


@dataclass(frozen=True, slots=True)
class PtpEdit:
    column1: str
    column2: str
    effective: str  # ISO date
    deletion: str | None  # ISO date the edit stopped applying
    modifier_indicator: str  # "0" no modifier bypasses, "1" an NCCI-associated modifier may, "9" not an edit
    rationale: str

    def applies_on(self, dos: str) -> bool:
        # CMS: an edit is in force from its effective date up to (not including) its deletion date;
        # an edit deleted on the day it took effect never applied.
        return self.effective <= dos and (self.deletion is None or dos < self.deletion)

    @property
    def dates(self) -> str:
        return f"effective {self.effective}, " + (f"deleted {self.deletion}" if self.deletion else "no deletion date")


class PtpTable:
    """One pinned version of the PTP table, loaded per column-1 code on first use.

    Lookups share one read connection for the run (each lookup is its own short
    read transaction); ``close`` releases it.
    """

    def __init__(self, store: Store, version_id: int, label: str):
        self.store = store
        self.version_id = version_id
        self.label = label
        self.detail = {"table": label}  # what a passing evaluation's audit record cites
        self._by_column1: dict[str, dict[str, tuple[PtpEdit, ...]]] = {}
        self._lock = threading.Lock()
        self._stack: contextlib.ExitStack | None = None
        self._connection: Connection | None = None

    def edits_among(self, codes: Iterable[str]) -> dict[str, dict[str, tuple[PtpEdit, ...]]]:
        """column 1 code → column 2 code → edits, for every code given (loaded as needed)."""
        cache = self._by_column1
        missing = [c for c in codes if c not in cache]
        if missing:
            self._load(missing)
        return cache

    def _load(self, codes: list[str]) -> None:
        t = ncci_ptp.c
        with self._lock:
            codes = [c for c in codes if c not in self._by_column1]  # another worker may have loaded them
            if not codes:
                return
            found: dict[str, dict[str, list[PtpEdit]]] = {c: {} for c in codes}
            conn = self._open()
            try:
                # One read transaction: if the version row is there, all of its rows are.
                alive = conn.execute(select(edit_table_versions.c.version_id).where(
                    edit_table_versions.c.version_id == self.version_id)).first()
                if alive is None:
                    raise EditTableReplaced(f"NCCI PTP table {self.label} was replaced during the run")
                for i in range(0, len(codes), _LOOKUP_CHUNK):
                    for r in conn.execute(
                        select(t.column1, t.column2, t.effective, t.deletion, t.modifier_indicator, t.rationale)
                        .where(t.version_id == self.version_id, t.column1.in_(codes[i:i + _LOOKUP_CHUNK]))
                    ):
                        found[r[0]].setdefault(r[1], []).append(PtpEdit(r[0], r[1], r[2], r[3], r[4], r[5] or ""))
            finally:
                conn.rollback()  # end the read transaction: never hold a snapshot between lookups
            for c, by2 in found.items():
                self._by_column1[c] = {c2: tuple(edits) for c2, edits in by2.items()}

    def _open(self) -> Connection:
        if self._connection is None:
            self._stack = contextlib.ExitStack()
            self._connection = self._stack.enter_context(self.store.read())
        return self._connection

    def close(self) -> None:
        with self._lock:
            if self._stack is not None:
                self._stack.close()
            self._stack = self._connection = None


@dataclass(frozen=True, slots=True)
class MueLimit:
    code: str
    value: int
    mai: int  # 1 per line; 2 per date of service (policy); 3 per date of service (clinical)
    rationale: str


@dataclass
class MueTable:
    version_id: int
    label: str
    limits: dict[str, MueLimit]
    detail: dict[str, str] = field(init=False)  # what a passing evaluation's audit record cites

    def __post_init__(self) -> None:
        self.detail = {"table": self.label}

    @classmethod
    def load(cls, store: Store, version_id: int, label: str) -> MueTable:
        t = ncci_mue.c
        with store.read() as conn:
            limits = {r[0]: MueLimit(r[0], r[1], r[2], r[3] or "") for r in conn.execute(
                select(t.code, t.mue_value, t.mai, t.rationale).where(t.version_id == version_id))}
        return cls(version_id, label, limits)


def load_prior_auth_codes(payers: Payers | Path) -> dict[str, frozenset[str]]:
    """payer id → codes that need a prior authorization number (``prior_auth_codes`` in each profile,
    validated by ``bots.core.payers``); a folder is read, ``settings.payers`` is already loaded."""
    return (load_payers(payers) if isinstance(payers, Path) else payers).prior_auth_codes()


def load_denial_counts(store: Store, *, days: int, min_denials: int) -> dict[tuple[str, str], int]:
    """(payer id, procedure code) → claims denied (X12 category F2) in the last ``days`` days,
    for the pairs denied at least ``min_denials`` times, as payer_portal recorded them."""
    cutoff = (utcnow() - timedelta(days=days)).isoformat(timespec="seconds")
    return store.denial_counts(since=cutoff, min_denials=min_denials)


@dataclass
class ReferenceData:
    """Everything the rules look up, pinned for one run."""

    ptp: PtpTable
    mue: MueTable
    prior_auth_codes: dict[str, frozenset[str]] = field(default_factory=dict)
    denial_counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def close(self) -> None:
        self.ptp.close()

    @classmethod
    def load(cls, store: Store, versions: dict[str, tuple[int, str]], payers: Payers | Path,
             denials: tuple[int, int] | None) -> ReferenceData:
        """``denials``: (days, min_denials) when the denial-pattern rule is on."""
        ptp_id, ptp_label = versions[PTP]
        mue_id, mue_label = versions[MUE]
        return cls(
            ptp=PtpTable(store, ptp_id, ptp_label),
            mue=MueTable.load(store, mue_id, mue_label),
            prior_auth_codes=load_prior_auth_codes(payers),
            denial_counts=load_denial_counts(store, days=denials[0], min_denials=denials[1]) if denials else {},
        )
