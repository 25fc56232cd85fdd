"""The bots this installation has, found by entry point: core names no bot.

Each bot package publishes one ``BotSpec`` under the ``rcm_bots.bots`` entry-point group
(``pyproject.toml``), so a fourth bot is added by a package and an entry point, without
touching core. The CLI, the demo and the scheduler create bots only through ``create``.

A bot may *accept handoffs*: work other bots hand it through the store, by kind. Today
the one kind is ``status_update`` (a status the billing work queue should show, and a
coder's resolution to apply there); the runner queues such an intent for whichever bot
declares it handles that kind, so the producer never names the consumer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from bots.core.errors import ConfigError

if TYPE_CHECKING:
    from bots.core.settings import Settings

__all__ = ["ENTRY_POINT_GROUP", "STATUS_UPDATE", "BotSpec", "create", "handoff_target", "names", "spec", "specs"]

ENTRY_POINT_GROUP = "rcm_bots.bots"
STATUS_UPDATE = "status_update"  # the handoff kind: a billing status to show, a resolution to apply


@dataclass(frozen=True)
class BotSpec:
    """What a bot package tells core about itself."""

    name: str
    factory: Callable[[Settings], Any]  # builds the bot (``bots.core.runner.Bot``) for one run
    summary: str = ""
    accepts: tuple[str, ...] = ()  # handoff kinds this bot works (e.g. ``STATUS_UPDATE``)
    order: int = 100  # position in ``bots run all`` and the demo: producers before consumers


@cache
def specs() -> dict[str, BotSpec]:
    """Every installed bot, by name, in run order. Loaded once per process."""
    found: list[BotSpec] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if not isinstance(obj, BotSpec):
            raise ConfigError(f"entry point {ep.name} = {ep.value!r} in group {ENTRY_POINT_GROUP}: "
                              f"expected a BotSpec, found {type(obj).__name__}")
        if obj.name != ep.name:
            raise ConfigError(f"entry point {ep.name} = {ep.value!r}: its BotSpec is named {obj.name!r}")
        found.append(obj)
    return {s.name: s for s in sorted(found, key=lambda s: (s.order, s.name))}


def names() -> tuple[str, ...]:
    return tuple(specs())


def installed_names() -> frozenset[str]:
    """The installed bots' names, read from the entry points without importing the bot packages (a
    run of one bot, and reading bots.toml, need not import the others and their libraries)."""
    return frozenset(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def spec(name: str) -> BotSpec:
    try:
        return specs()[name]
    except KeyError:
        raise ConfigError(f"unknown bot {name!r}; installed bots: {', '.join(names()) or 'none'}") from None


def create(name: str, settings: Settings) -> Any:
    return spec(name).factory(settings)


# Handoff targets a worker process was given by its run (``bots.core.runner.processes``), so it need
# not import every installed bot (a browser library among them) to route a status update.
_given_targets: dict[str, str] = {}


def handoff_targets() -> dict[str, str]:
    """Every handoff kind an installed bot accepts → that bot (each kind checked as ``handoff_target``)."""
    kinds = {k for s in specs().values() for k in s.accepts}
    return {k: handoff_target(k) for k in sorted(kinds)}


def use_handoff_targets(targets: dict[str, str]) -> None:
    """Route handoffs as the run that started this process resolved them."""
    _given_targets.update(targets)


def handoff_target(kind: str) -> str:
    """The bot that works handoffs of ``kind``; exactly one installed bot must accept it."""
    if kind in _given_targets:
        return _given_targets[kind]
    takers = [s.name for s in specs().values() if kind in s.accepts]
    if len(takers) != 1:
        raise ConfigError(f"handoff kind {kind!r} needs exactly one installed bot that accepts it; "
                          f"found {takers or 'none'}")
    return takers[0]
