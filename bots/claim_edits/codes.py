"""Code-set facts the rules rely on: NPI check digits, ICD-10-CM shape, CPT ranges, NCCI modifiers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

__all__ = [
    "EM_SECTION", "NCCI_ANATOMIC_MODIFIERS", "NCCI_BYPASS_MODIFIERS", "CodeSet", "icd10cm_wellformed", "npi_valid",
]

# CMS NCCI Policy Manual, ch. I sec. E: the NCCI-associated modifiers that may bypass a PTP edit
# with modifier indicator 1 when the documentation supports them. Anatomic modifiers say the two
# procedures were done on different sites, so they count only when the two lines carry different ones.
NCCI_ANATOMIC_MODIFIERS: tuple[str, ...] = (
    "E1", "E2", "E3", "E4", "FA", "F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9",
    "TA", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9",
    "LT", "RT", "LC", "LD", "RC", "LM", "RI",
)
NCCI_BYPASS_MODIFIERS: tuple[str, ...] = (
    "24", "25", "57", "58", "78", "79",  # global surgery
    "27", "59", "91", "XE", "XS", "XP", "XU",  # other
)

# ICD-10-CM: a letter, a digit, a digit or letter (C4A, M1A, Z3A), then optionally a dot and up
# to four more characters (7th-character extensions use X placeholders). Claims often drop the dot.
_ICD10CM = re.compile(r"[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?")


def icd10cm_wellformed(code: str) -> bool:
    return _ICD10CM.fullmatch(code) is not None


@lru_cache(maxsize=65536)  # a practice bills under a few hundred NPIs
def npi_valid(npi: str) -> bool:
    """The NPI check digit: Luhn over the 9 digits prefixed with 80840 (the US health-industry
    issuer prefix), per the CMS NPI check-digit standard."""
    if len(npi) != 10 or not npi.isdigit():
        return False
    total = 0
    # Walk the 14 payload digits "80840" + npi[:9] from the right; double every other one,
    # starting with the rightmost.
    for i, ch in enumerate(reversed("80840" + npi[:9])):
        d = ord(ch) - 48
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10 == ord(npi[9]) - 48


class CodeSet:
    """Procedure codes given as single codes and inclusive ranges ("99202-99215").

    A range only holds codes of its own shape: "10004-69990" (all digits) does
    not swallow a Category II code such as 3074F that sorts between its ends.
    Membership is remembered per code: a scan asks about the same few hundred
    codes hundreds of thousands of times.
    """

    __slots__ = ("items", "singles", "ranges", "_seen")

    def __init__(self, items: Iterable[str]):
        self.items = tuple(items)
        singles: set[str] = set()
        ranges: list[tuple[str, str]] = []
        for raw in self.items:
            item = raw.strip().upper()
            if "-" in item:
                lo, hi = (p.strip() for p in item.split("-", 1))
                if len(lo) != 5 or len(hi) != 5 or lo > hi or lo.isdigit() != hi.isdigit():
                    raise ValueError(f"bad code range {raw!r}: expected two 5-character codes, low-high")
                ranges.append((lo, hi))
            else:
                if len(item) != 5 or not item.isalnum():
                    raise ValueError(f"bad procedure code {raw!r}: expected 5 characters")
                singles.add(item)
        self.singles = frozenset(singles)
        self.ranges = tuple(ranges)
        self._seen: dict[str, bool] = {}

    def __contains__(self, code: object) -> bool:
        try:
            return self._seen[code]  # type: ignore[index]
        except KeyError:
            pass
        except TypeError:
            return False
        found = code in self.singles or (isinstance(code, str) and any(
            lo <= code <= hi and lo.isdigit() == code.isdigit() for lo, hi in self.ranges))
        self._seen[code] = found  # type: ignore[index]
        return found

    def __repr__(self) -> str:
        return f"CodeSet({list(self.items)!r})"


# The CPT Evaluation and Management section.
EM_SECTION = CodeSet(["99202-99499"])
