"""Payer files, ``config/payers/<payer_id>.toml``: read once per ``Settings``, from one place.

Several parts of the system need the payers: the worklist loader checks a row's payer id
against them, claim_edits reads each payer's ``prior_auth_codes``, payer_portal builds a
portal profile from each file. They used to glob and parse the folder each on their own;
now :func:`load_payers` reads every file once (``Settings.payers`` keeps the result, and
reads the folder again only when a file in it changed, so an edit applies from the next
run as before) and
validates the fields more than one part relies on (:class:`PayerCommon`): the payer id is
the file name, ``display_name``, ``prior_auth_codes``. A bot's own fields (a portal's
selectors, say) stay in the validated document (:attr:`PayerFile.raw`) for the bot's own
model, parsed with :meth:`PayerFile.parse` so its errors name the file, key and value too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bots.core.errors import ConfigError
from bots.core.settings import load_toml, load_toml_model

__all__ = ["AppealWindow", "PayerCommon", "PayerFile", "Payers", "load_payers", "profile_digests"]

M = TypeVar("M", bound=BaseModel)


class AppealWindow(BaseModel):
    """``[appeals]``: how long the payer allows for an appeal, and from which date it counts."""

    model_config = ConfigDict(extra="forbid")

    window_days: int = Field(ge=1, le=3650)
    # The contract says which: the denial's date (the status date the portal shows a denial with) or
    # the remittance date (the paid date the portal shows, as on the remittance advice).
    counts_from: Literal["denial_date", "remittance_date"]


class PayerCommon(BaseModel):
    """The fields of a payer file that more than one bot reads; the rest belong to the bots."""

    model_config = ConfigDict(extra="allow")

    # Optional here: a payer the bots never look up on a portal (claim_edits' prior-auth list only)
    # needs no name; payer_portal's profile model requires one for the payers it visits.
    display_name: str | None = None
    prior_auth_codes: list[str] = Field(default_factory=list)  # procedure codes needing a prior auth number
    appeals: AppealWindow | None = None  # read by the Appeal Preparation sheet (``core/appeals.py``)

    @field_validator("prior_auth_codes", mode="before")
    @classmethod
    def _codes(cls, v: Any) -> Any:
        if not isinstance(v, list) or not all(isinstance(c, str) for c in v):
            raise ValueError("expected a list of procedure codes")
        return v


@dataclass(frozen=True)
class PayerFile:
    """One payer: its id (the file name, lower case), its file, the shared fields and the document."""

    id: str
    path: Path
    common: PayerCommon
    raw: dict[str, Any]

    @property
    def prior_auth_codes(self) -> frozenset[str]:
        return frozenset(c.strip().upper() for c in self.common.prior_auth_codes)

    def parse(self, model: type[M]) -> M:
        """The whole document validated into a bot's own model; errors name file, key and value."""
        return load_toml_model(self.path, model, data=self.raw)


class Payers(Mapping[str, PayerFile]):
    """The payer files of one config folder, by payer id, in file-name order."""

    def __init__(self, folder: Path, files: Mapping[str, PayerFile]):
        self.folder = folder
        self._files = dict(files)
        self.signature = _signature(folder)

    def stale(self) -> bool:
        """True when a payer file was added, removed or changed since these were read."""
        return _signature(self.folder) != self.signature

    def __getitem__(self, payer_id: str) -> PayerFile:
        return self._files[payer_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    @property
    def folder_exists(self) -> bool:
        return self.folder.is_dir()

    def known_ids(self) -> set[str] | None:
        """Payer ids a worklist row may name; None (accept any) when no payer is configured yet."""
        return set(self._files) or None

    def prior_auth_codes(self) -> dict[str, frozenset[str]]:
        return {pid: f.prior_auth_codes for pid, f in self._files.items()}


def _signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    if not folder.is_dir():
        return ()
    return tuple((p.name, (st := p.stat()).st_mtime_ns, st.st_size) for p in sorted(folder.glob("*.toml")))


def load_payers(folder: Path) -> Payers:
    """Every ``*.toml`` in ``folder``, validated; a missing folder is no payers (callers that
    need one say so). Prefer ``settings.payers``, which reads the folder once."""
    files: dict[str, PayerFile] = {}
    if folder.is_dir():
        for path in sorted(folder.glob("*.toml")):
            payer_id = path.stem.lower()
            raw = load_toml(path)
            if "id" in raw:
                raise ConfigError(f"{path}: key 'id': the payer id is the file name ({payer_id}); remove the key")
            files[payer_id] = PayerFile(payer_id, path, load_toml_model(path, PayerCommon, data=raw), raw)
    return Payers(folder, files)


def profile_digests(payers: Payers) -> dict[str, dict[str, str]]:
    """payer id → top-level key → sha256 of its value: what a change record compares (status words,
    tolerances, maintenance windows, selectors) without keeping a value. Profiles hold no secret."""
    from bots.core.store.base import digest

    return {pid: {key: digest(value) for key, value in sorted(f.raw.items())} for pid, f in payers.items()}
