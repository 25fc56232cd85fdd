"""What a payer portal showed about one claim, validated at the edge (pydantic).

The detail page's texts become typed values here: amounts (``$1,234.50``, empty while
there is none), dates in the portal's own format, and adjustment reason codes split
into group and reason by the profile's CARC pattern.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CarcCode", "PortalClaimStatus", "parse_carc", "parse_date", "parse_money"]


def parse_money(text: str) -> Decimal | None:
    """``$1,234.50`` → ``Decimal('1234.50')``; ``(12.00)`` is negative; empty text is ``None``."""
    raw = text.strip()
    if not raw:
        return None
    negative = raw.startswith("(") and raw.endswith(")") or raw.startswith("-")
    digits = re.sub(r"[\s$,()\-]", "", raw)
    try:
        value = Decimal(digits)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    return -value if negative else value


def parse_date(text: str, fmt: str) -> date | None:
    raw = text.strip()
    if not raw:
        return None
    try:
        return datetime.strptime(raw, fmt).date()
    except ValueError:
        raise ValueError(f"{text!r} is not a date in the format {fmt}") from None


class CarcCode(BaseModel):
    """One claim adjustment reason code as the portal shows it (``CO-45`` and its text)."""

    model_config = ConfigDict(frozen=True)

    code: str
    group: str | None = None    # CO contractual, PR patient responsibility, OA other, PI payer initiated
    reason: str | None = None   # the CARC number itself
    text: str = ""

    def describe(self) -> str:
        return f"{self.code}: {self.text}" if self.text else f"{self.code} (no description shown)"


def parse_carc(code: str, text: str, pattern: str) -> CarcCode:
    """Split a code by the profile's pattern; a code it does not match is kept as shown."""
    cleaned = " ".join(code.split()).upper()
    match = re.match(pattern, cleaned)
    if match is None:
        return CarcCode(code=cleaned, text=text)
    group, reason = match.group("group"), match.group("reason")
    return CarcCode(code=f"{group}-{reason}", group=group, reason=reason, text=text)


class PortalClaimStatus(BaseModel):
    """The claim detail page, read. Member id and date of service are read only to check the
    page is about the worklist's claim; they stay out of dumps (audit details, digests)."""

    model_config = ConfigDict(frozen=True)

    claim_id: str
    status_word: str
    status_date: date | None = None
    billed: Decimal | None = None
    paid: Decimal | None = None
    paid_date: date | None = None
    check_number: str = ""
    payer_claim_number: str = ""
    remarks: str = ""
    carc: list[CarcCode] = Field(default_factory=list)
    member_id: str = Field("", exclude=True, repr=False)
    date_of_service: date | None = Field(None, exclude=True, repr=False)
