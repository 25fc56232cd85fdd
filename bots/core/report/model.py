"""What a report is made of: sections of tables and charts, each with its definition.

Plain dataclasses, so the HTML page, the JSON file and the workbook's Trends sheet render one
and the same object, and a test compares the numbers without parsing HTML.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Chart", "Report", "Section", "Table"]

Cell = str | int | float | None


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Cell]]
    long: bool = False  # many rows: the page shows it folded

    def column(self, name: str) -> list[Cell]:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]


@dataclass
class Chart:
    """A line chart over periods (``x`` the period labels) or a bar chart over categories."""

    title: str
    kind: Literal["line", "bar"]
    x: list[str]
    series: dict[str, list[float | None]]
    y_label: str = ""


@dataclass
class Section:
    key: str
    title: str
    definition: str
    available: bool = True
    note: str = ""  # why a section is not available, or what it cannot show
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)

    def table(self, title: str) -> Table:
        return next(t for t in self.tables if t.title == title)


@dataclass
class Report:
    title: str
    generated_at: str  # UTC ISO
    by: str
    range_from: str
    range_to: str
    periods: list[str]
    scope: str  # how periods are cut
    coder_names: bool
    sections: list[Section]

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
