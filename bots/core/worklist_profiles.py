"""Worklist profiles: how one source's exports differ from the worklist format.

US practice-management systems export MM/DD/YYYY dates, ``$1,234.56`` amounts, ``(123.45)`` for
negatives and their own column headers ("Claim #", "DOS", "Charge Amt", "CPT"). A profile,
``config/worklists/<name>.toml``, says so for one source, and is chosen per load (``bots worklist
load FILE --profile NAME``) or per inbox folder (``inbox_profile`` beside ``inbox`` in bots.toml).
Without one, the worklist format of docs/ARCHITECTURE.md section 8 applies unchanged.

A profile translates values before they are judged; it never guesses. A date is read with the
profile's formats only, and a value two of them read as different days is an input error, as is
any day/month date when no format is configured ("03/10/2026" is 10 March or 3 October).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bots.core.errors import ConfigError
from bots.core.settings import load_toml_model
from bots.core.worklist_files import COLUMNS, norm_header

__all__ = ["DEFAULT_PROFILE", "PROFILE_DIR", "WorklistProfile", "load_profile", "profile_names"]

PROFILE_DIR = "worklists"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,59}")
_SAMPLE = date(2026, 10, 3)  # the date every example in a message shows
# strftime directives in the words an operator uses for them
_WORDS = {"%Y": "YYYY", "%y": "YY", "%m": "MM", "%d": "DD", "%b": "Mon", "%B": "Month", "%-m": "M", "%-d": "D"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatesProfile(_Strict):
    # strftime/strptime formats, e.g. "%m/%d/%Y"; YYYY-MM-DD text and Excel date cells are always dates.
    formats: list[str] = Field(default_factory=list)

    @field_validator("formats")
    @classmethod
    def _whole_dates(cls, v: list[str]) -> list[str]:
        for fmt in v:
            try:
                ok = datetime.strptime(_SAMPLE.strftime(fmt), fmt).date() == _SAMPLE
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"{fmt!r} is not a date format with day, month and year (like '%m/%d/%Y')")
        return v


class MoneyProfile(_Strict):
    symbols: list[str] = Field(default_factory=list)  # stripped before reading the number, e.g. ["$"]
    thousands_separator: str = ""  # e.g. ","; groups of three digits only, so "1,23" is never 123
    negative_parentheses: bool = False  # accountants' (123.45) for -123.45

    @property
    def active(self) -> bool:
        return bool(self.symbols or self.thousands_separator or self.negative_parentheses)

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, v: list[str]) -> list[str]:
        for s in v:
            if not s.strip() or any(ch.isdigit() or ch in ".-()," for ch in s):
                raise ValueError(f"{s!r} is not a currency symbol (no digits, signs, dots or commas)")
        return v

    @field_validator("thousands_separator")
    @classmethod
    def _separator(cls, v: str) -> str:
        if v not in ("", ",", " ", "'"):
            raise ValueError("expected one of \",\", \" \", \"'\" or \"\" (the decimal point is always \".\")")
        return v


class CodesProfile(_Strict):
    strip_spaces: bool = False  # "992 14" is 99214
    upper_case: bool = True
    split_modifiers: bool = False  # "99214-25" or "99214 25": procedure 99214, modifier 25 (added to modifiers)
    list_separators: list[str] = Field(default_factory=lambda: [";"])  # between modifiers, diagnosis codes, pointers

    @field_validator("list_separators")
    @classmethod
    def _separators(cls, v: list[str]) -> list[str]:
        for s in v:
            if len(s) != 1 or s.isalnum() or s == ".":
                raise ValueError(f"{s!r} is not a list separator (one character, not a letter, digit or '.')")
        return v


class WorklistProfile(_Strict):
    """The shape of ``config/worklists/<name>.toml``; the default profile is the empty one."""

    name: str = "default"  # the file's name, set when loaded
    description: str = ""
    # A header as the export writes it (case and spaces do not matter) → a worklist column. Several
    # headers may name modifiers or diagnosis_codes ("Mod 1", "Mod 2"); their values are joined.
    columns: dict[str, str] = Field(default_factory=dict)
    dates: DatesProfile = DatesProfile()
    money: MoneyProfile = MoneyProfile()
    codes: CodesProfile = CodesProfile()

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, v: dict[str, str]) -> dict[str, str]:
        for header, column in v.items():
            if column not in COLUMNS:
                raise ValueError(f"header {header!r} maps to {column!r}, which is not a worklist column; "
                                 f"expected one of {', '.join(COLUMNS)}")
        return v

    @property
    def aliases(self) -> dict[str, str]:
        """Normalised header → column, as ``worklist_files.read_rows`` takes them."""
        return {norm_header(h): c for h, c in self.columns.items()}

    # ---- the words of a message --------------------------------------------------------------
    def date_expected(self) -> str:
        """What a date should look like, as an operator reads it."""
        base = "expected a date like 2026-10-03 (YYYY-MM-DD) or an Excel date cell"
        if not self.dates.formats:
            return (f"{base}; a date written like 10/03/2026 needs a worklist profile that says whether the "
                    "month or the day comes first (bots worklist load FILE --profile NAME)")
        shown = " or ".join(f"{_SAMPLE.strftime(f)} ({_words(f)})" for f in self.dates.formats)
        return f"expected a date like 2026-10-03 or, with profile {self.name}, {shown}"

    def amount_expected(self) -> str:
        if not self.money.active:
            return ("expected an amount like 1234.56; amounts written like $1,234.56 need a worklist profile "
                    "(bots worklist load FILE --profile NAME)")
        symbol = self.money.symbols[0] if self.money.symbols else ""
        sep = self.money.thousands_separator
        shown = f"{symbol}1{sep}234.56"
        if self.money.negative_parentheses:
            shown += f" or ({symbol}123.45) for a negative amount"
        return f"expected an amount like 1234.56 or, with profile {self.name}, {shown}"

    # ---- translating values --------------------------------------------------------------------
    def read_date(self, value: str) -> str:
        """``value`` as YYYY-MM-DD; ValueError (in the operator's words) when it is none or ambiguous."""
        days = set()
        for fmt in self.dates.formats:
            try:
                days.add(datetime.strptime(value, fmt).date())
            except ValueError:
                continue
        if len(days) == 1:
            return days.pop().isoformat()
        if len(days) > 1:
            raise ValueError(f"ambiguous date: profile {self.name} reads it as more than one day "
                             f"({', '.join(_words(f) for f in self.dates.formats)}); write it as YYYY-MM-DD")
        raise ValueError(self.date_expected())

    def read_amount(self, value: str) -> str:
        """``value`` as plain decimal text; ValueError when the profile's money format does not fit it."""
        v = value.strip()
        negative = False
        if self.money.negative_parentheses and v.startswith("(") and v.endswith(")"):
            negative, v = True, v[1:-1].strip()
        if v.startswith("-"):
            negative, v = not negative, v[1:].strip()
        for symbol in self.money.symbols:
            if v.startswith(symbol):
                v = v[len(symbol):].strip()
                break
        if v.startswith("-") and not negative:  # $-12.00
            negative, v = True, v[1:].strip()
        sep = self.money.thousands_separator
        if sep and sep in v:
            if not re.fullmatch(rf"\d{{1,3}}({re.escape(sep)}\d{{3}})+(\.\d+)?", v):
                raise ValueError(self.amount_expected())
            v = v.replace(sep, "")
        if not re.fullmatch(r"\d+(\.\d*)?|\.\d+", v):
            raise ValueError(self.amount_expected())
        return f"-{v}" if negative else v

    def code(self, value: str) -> tuple[str, list[str]]:
        """A procedure code and the modifiers written into it ("99214-25"), per the profile."""
        v = value.strip()
        if self.codes.upper_case:
            v = v.upper()
        if self.codes.split_modifiers:
            parts = [p for p in re.split(r"[\s:-]+", v) if p]
            if len(parts) > 1 and len(parts[0]) == 5:
                return parts[0], parts[1:]
        if self.codes.strip_spaces:
            v = re.sub(r"\s+", "", v)
        return v, []

    def split_list(self, value: str) -> str:
        """A list cell with the profile's separators, as the ``;``-separated text the worklist uses."""
        for sep in self.codes.list_separators:
            if sep != ";":
                value = value.replace(sep, ";")
        return value

    @property
    def is_default(self) -> bool:
        return self == DEFAULT_PROFILE


def _words(fmt: str) -> str:
    for directive, word in _WORDS.items():
        fmt = fmt.replace(directive, word)
    return fmt


DEFAULT_PROFILE = WorklistProfile()


def profile_names(config_dir: Path) -> list[str]:
    return sorted(p.stem for p in (config_dir / PROFILE_DIR).glob("*.toml"))


def load_profile(config_dir: Path, name: str | None) -> WorklistProfile:
    """The profile ``name`` from ``config_dir/worklists/``; None or "default" is the default profile.

    A missing or invalid file is a ``ConfigError`` naming the file, and for a bad value the key and the value.
    """
    if name is None or name == "default":
        return DEFAULT_PROFILE
    if not _NAME.fullmatch(name):
        raise ConfigError(f"worklist profile {name!r}: not a profile name (lower-case letters, digits, - and _)")
    path = config_dir / PROFILE_DIR / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(profile_names(config_dir)) or "none"
        raise ConfigError(f"{path}: file not found (worklist profile {name!r}; profiles in "
                          f"{config_dir / PROFILE_DIR}: {known})")
    profile = load_toml_model(path, WorklistProfile)
    return profile.model_copy(update={"name": name})

