"""Small bots for testing the runner without a browser or rules."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from typing import Any

from bots.core.errors import BusinessException, ExceptionRecord, PortalTimeout
from bots.core.settings import Settings
from bots.core.runner import ItemContext, Outcome, RunContext
from bots.core.store import ClaimedItem, Store, WorkItemSpec


class CountingBot:
    """Processes ``n`` items named ``item-NNN``; appends each processed reference to
    ``trace`` (a file) so a test can see what ran, and sleeps ``delay`` per item."""

    def __init__(self, n: int = 20, *, delay: float = 0.0, trace: str | None = None,
                 name: str = "claim_edits", fail: set[int] | None = None, business: set[int] | None = None):
        self.name = name
        self.n = n
        self.delay = delay
        self.trace = trace
        self.fail = fail or set()
        self.business = business or set()
        self.calls: dict[str, int] = {}

    def enqueue(self, run: RunContext) -> int:
        return run.store.enqueue(self.name, [WorkItemSpec(reference=f"item-{i:03d}", digest="v1", sort_key=f"{i:03d}")
                                             for i in range(self.n)])

    def session(self, run: RunContext) -> Any:
        return contextlib.nullcontext()

    def process(self, item: ClaimedItem, ctx: ItemContext) -> Outcome:
        i = int(item.reference.split("-")[1])
        self.calls[item.reference] = self.calls.get(item.reference, 0) + 1
        if self.delay:
            time.sleep(self.delay)
        if self.trace:
            with open(self.trace, "a") as fh:
                fh.write(f"{os.getpid()} {item.reference}\n")
        ctx.audit("checked", "pass", rule_id="TEST-RULE", rule_version="1")
        if i in self.fail:
            raise PortalTimeout(f"portal did not answer for {item.reference}")
        if i in self.business:
            raise BusinessException(ExceptionRecord(queue="Claim Edits", rule_id="TEST-RULE",
                                                    reason="test rule failed", claim_id=item.reference))
        return Outcome(result={"i": i})

    def references_for_claims(self, store: Store, claim_ids: set[str]) -> list[str]:
        return sorted(claim_ids)


# Factories the scheduler's test-only ``factory="module:callable"`` override imports by name
# (from ``tests/``, which is on sys.path), standing in for a bot's BotSpec factory.

def make_two_item_bot(settings: Settings) -> CountingBot:
    return CountingBot(2)


def make_counting_bot(settings: Settings) -> CountingBot:
    """The scheduled test bot; its size, pace and trace file come from ``[bots.claim_edits.options]``."""
    opts = settings.config.bot("claim_edits").options
    return CountingBot(int(opts.get("items", 3)), delay=float(opts.get("delay", 0.0)), trace=opts.get("trace"))



class HelperProbeBot(CountingBot):
    """A CountingBot for runs with helper processes (``[bots.claim_edits] processes``): every item
    traces ``pid reference``; the run's own process holds its first item until a helper has traced
    one (so the helper surely works), and with ``crash_helper`` a helper dies at its first item."""

    def __init__(self, settings: Settings):
        opts = settings.config.bot("claim_edits").options
        super().__init__(int(opts["items"]), trace=opts["trace"], delay=float(opts.get("delay", 0.0)))
        self.crash_helper = bool(opts.get("crash_helper"))
        self.in_helper = multiprocessing.parent_process() is not None
        self.process_factory = HelperProbeBot

    def process(self, item: ClaimedItem, ctx: ItemContext) -> Outcome:
        if self.in_helper and self.crash_helper:
            with open(self.trace or "", "a") as fh:
                fh.write(f"{os.getpid()} crashing-at-{item.reference}\n")
            os._exit(3)
        if not self.in_helper:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not self._helper_traced():
                time.sleep(0.05)
        return super().process(item, ctx)

    def _helper_traced(self) -> bool:
        assert self.trace is not None
        try:
            lines = open(self.trace).read().split("\n")
        except FileNotFoundError:
            return False
        return any(line and int(line.split()[0]) != os.getpid() for line in lines)
