"""The team roster (``config/team.toml``): who works which queues, in which roles, and when they are away.

The roster is what turns the workbook's person columns from free text into controls: rows get an
owner from it (``workbook.assignment``), Senior rows need a person with the ``senior`` role to sign
them off, and QA reviewers come from it (``quality``). Without the file nothing of that is on and
the workbook works as before: a site adopts the controls by writing its roster.

Names are the names as they appear in the workbook (what a coder picks in Resolved By), so they
are compared exactly, after trimming. Staff names are not patient data and may appear in audit
records and messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bots.core.errors import ConfigError
from bots.core.settings import Settings, load_toml

__all__ = ["TEAM_FILE", "Absence", "Person", "Role", "Team", "load_team", "local_today", "open_counts", "parse_team"]

TEAM_FILE = "team.toml"
MAX_NAME = 60  # a name fits the person columns (and the roster list the dropdowns read)


class Role(StrEnum):
    CODER = "coder"  # works Entry rows of their queues
    SENIOR = "senior"  # takes Senior rows and escalations; signs them off
    QA = "qa"  # reviews sampled decisions on the Quality Review sheet
    OPERATOR = "operator"  # runs the bots; the Input Problems sheet


class Absence(BaseModel):
    """Days away, both ends included."""

    model_config = ConfigDict(extra="forbid")

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Absence:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


class Person(BaseModel):
    """One ``[[person]]`` of the roster."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME)
    roles: list[Role] = Field(min_length=1)
    queues: list[str] = Field(default_factory=list)  # empty: every queue
    absences: list[Absence] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        v = v.strip()
        if not v or not v.isprintable():
            raise ValueError("a name must be printable text, as it appears in the workbook")
        return v

    @field_validator("queues")
    @classmethod
    def _known_queues(cls, v: list[str]) -> list[str]:
        from bots.core.workbook.layout import QUEUE_SHEETS  # the workbook imports this module

        for queue in v:
            if queue not in QUEUE_SHEETS:
                raise ValueError(f"unknown queue {queue!r}; the queues are {', '.join(QUEUE_SHEETS)}")
        return v

    def has(self, role: Role) -> bool:
        return role in self.roles

    def works(self, queue: str) -> bool:
        return not self.queues or queue in self.queues

    def present(self, day: date) -> bool:
        return not any(a.covers(day) for a in self.absences)


@dataclass(frozen=True)
class Team:
    """The validated roster, in file order."""

    people: tuple[Person, ...]
    source: str = TEAM_FILE

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.people]

    def get(self, name: str | None) -> Person | None:
        wanted = (name or "").strip()
        return next((p for p in self.people if p.name == wanted), None)

    def with_role(self, *roles: Role) -> list[Person]:
        return [p for p in self.people if any(p.has(r) for r in roles)]

    def has_role(self, name: str | None, *roles: Role) -> bool:
        person = self.get(name)
        return person is not None and any(person.has(r) for r in roles)


def _person_label(raw: Any, index: int) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    return f"person {name.strip()!r}" if isinstance(name, str) and name.strip() else f"person #{index + 1}"


def parse_team(raw: Mapping[str, Any], source: Path | str) -> Team:
    """Validate a roster document; every problem is one ``ConfigError`` line naming the file, the
    person (by name, or by position when the name itself is wrong) and the key, with its value."""
    problems: list[str] = []
    unknown = sorted(set(raw) - {"person"})
    for key in unknown:
        problems.append(f"{source}: key '{key}': not a roster key (each person is a [[person]] table)")
    entries = raw.get("person", [])
    if not isinstance(entries, list):
        problems.append(f"{source}: key 'person': expected [[person]] tables")
        entries = []
    people: list[Person] = []
    for i, entry in enumerate(entries):
        label = _person_label(entry, i)
        try:
            people.append(Person.model_validate(entry))
        except ValidationError as exc:
            for err in exc.errors():
                key = ".".join(str(p) for p in err["loc"]) or "(the table)"
                value = err.get("input")
                shown = "" if isinstance(value, (dict, list)) else f" (value: {value!r})"
                problems.append(f"{source}: {label}: key '{key}': {err['msg'].removeprefix('Value error, ')}{shown}")
    seen: set[str] = set()
    for entry in entries:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if isinstance(name, str) and name.strip():
            if name.strip() in seen:
                problems.append(f"{source}: person {name.strip()!r}: key 'name': listed twice (value: {name!r})")
            seen.add(name.strip())
    if problems:
        raise ConfigError("; ".join(problems))
    return Team(tuple(people), str(source))


def load_team(settings: Settings) -> Team | None:
    """``config/team.toml`` validated, or None when the site has no roster (the controls are off)."""
    path = settings.config_file(TEAM_FILE)
    if not path.exists():
        return None
    return parse_team(load_toml(path), path)


def local_today(settings: Settings) -> date:
    """Today in the site's time zone (``bots.toml`` ``timezone``): the day absences are read against."""
    from datetime import datetime

    from bots.core.times import display_zone

    return datetime.now(display_zone(settings)).date()


def open_counts(rows: Iterable[Mapping[str, Any]], is_open: Any) -> dict[str, int]:
    """Open rows per Assigned To name (``is_open``: the caller's test of an open row)."""
    counts: dict[str, int] = {}
    for row in rows:
        name = (row.get("assigned_to") or "").strip()
        if name and is_open(row):
            counts[name] = counts.get(name, 0) + 1
    return counts
