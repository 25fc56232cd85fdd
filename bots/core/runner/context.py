"""What the runner hands a bot and takes back: the run's and the item's context, the Outcome,
the Bot protocol and the run's result. Kept apart from the loop in ``bots.core.runner`` so
a bot author reads the contract without the threading and transaction machinery.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ContextManager, Protocol

from bots.core.claims import Claim
from bots.core.errors import BusinessException, ExceptionRecord, SetupProblem
from bots.core.evidence import EvidenceFolder
from bots.core.lifecycle import RunStatus
from bots.core.logging import get_logger
from bots.core.settings import BotConfig, Settings
from bots.core.store import AuditEntry, ClaimedItem, Intent, Store

__all__ = ["Bot", "ItemContext", "Outcome", "Preflighted", "RunContext", "RunResult"]


@dataclass
class Outcome:
    """What processing one item decided. Exceptions make the item ``exception``.

    ``intents`` are what the store should write with it, as data (``bots.core.store.intents``):
    a claim's portal status, a row turned Synced, a status update handed to another bot.
    """

    result: dict[str, Any] = field(default_factory=dict)
    exceptions: list[ExceptionRecord] = field(default_factory=list)
    intents: list[Intent] = field(default_factory=list)


@dataclass
class RunResult:
    run_id: str
    bot: str
    status: str
    counts: dict[str, int]
    message: str = ""
    workbook: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == RunStatus.SUCCEEDED

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "bot": self.bot, "status": self.status, **self.counts,
                "message": self.message, "workbook": self.workbook, "seconds": round(self.seconds, 2)}


class RunContext:
    """What a bot gets for the whole run."""

    def __init__(self, settings: Settings, store: Store, bot: str, run_id: str,
                 only_refs: Sequence[str] | None, stop: threading.Event, options: dict[str, Any]):
        self.settings = settings
        self.store = store
        self.bot = bot
        self.run_id = run_id
        self.only_refs = only_refs
        self.stop = stop
        self.options = options
        self.config: BotConfig = settings.config.bot(bot)
        self.evidence = EvidenceFolder(settings.evidence_dir, run_id, settings.file_access)
        self.log = get_logger(f"bots.{bot}", run_id=run_id, bot=bot)
        self._claims: dict[str, Claim] = {}
        self._lock = threading.Lock()
        self.notes: list[str] = []  # said in the run's message (e.g. why a run had nothing to do)

    def note(self, text: str) -> None:
        """Add a sentence to the run's message (what an operator should know about this run)."""
        with self._lock:
            self.notes.append(text)

    def prefetch_claims(self, keys: Sequence[str]) -> None:
        missing = [k for k in keys if k and k not in self._claims]
        if missing:
            found = self.store.load_claims(missing)
            with self._lock:
                self._claims.update(found)

    def claim(self, key: str | None) -> Claim | None:
        if not key:
            return None
        if key not in self._claims:
            self.prefetch_claims([key])
        return self._claims.get(key)

    def forget_claims(self, keys: Sequence[str | None]) -> None:
        with self._lock:
            for k in keys:
                self._claims.pop(k, None)  # type: ignore[arg-type]


class ItemContext:
    """What a bot gets for one item: its claim, a bound logger, evidence and audit helpers."""

    def __init__(self, run: RunContext, item: ClaimedItem):
        self.run = run
        self.item = item
        self.claim = run.claim(item.claim_key)
        self.audit_entries: list[AuditEntry] = []
        self._claim_id = self.claim.claim_id if self.claim else None

    @cached_property
    def log(self) -> Any:
        """The run's logger bound to this item; bound on first use (most items never log)."""
        return self.run.log.bind(item=self.item.reference, **({"claim_id": self.claim.claim_id} if self.claim else {}))

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def require_claim(self) -> Claim:
        """The item's claim; a claim gone from the store is an exception a person can act on."""
        if self.claim is None:
            raise BusinessException(ExceptionRecord(
                queue="Claim Edits", rule_id="CLAIM-MISSING", rule_version="1", detail=self.item.reference,
                reason=(f"Claim {self.item.reference} is no longer in the store, so the {self.run.bot} bot "
                        f"could not work it. Reload the worklist that contains it.")))
        return self.claim

    def audit(self, action: str, result: str, *, rule_id: str | None = None, rule_version: str | None = None,
              input_digest: str | None = None, detail: dict[str, Any] | None = None,
              evidence: Any = None) -> None:
        """Record one decision; it is committed with the item's outcome (or failure)."""
        run = self.run
        if evidence is None:  # positional: a scan records hundreds of thousands of these
            entry = AuditEntry(action, result, run.run_id, run.bot, self.item.reference, self._claim_id, rule_id,
                               rule_version, input_digest, detail)
        else:
            entry = AuditEntry(action, result, run.run_id, run.bot, self.item.reference, self._claim_id, rule_id,
                               rule_version, input_digest, detail, str(evidence.path), evidence.sha256)
        self.audit_entries.append(entry)


class Bot(Protocol):
    """What the runner needs from a bot."""

    name: str

    def enqueue(self, run: RunContext) -> int:
        """Add the items this run should consider (idempotent). Return how many were added."""

    def session(self, run: RunContext) -> ContextManager[Any]:
        """Resources held for the whole run (a browser); entered once before the first item."""

    def process(self, item: ClaimedItem, ctx: ItemContext) -> Outcome:
        """Decide one item; return an Outcome (or raise BusinessException, the same thing), or raise
        SystemFault or ItemDeferred."""

    def references_for_claims(self, store: Store, claim_ids: set[str]) -> list[str]:
        """The work-item references that belong to these claim ids (for ``--claim``/``--worklist``)."""

    # Optional: ``preflight(run) -> list[SetupProblem]``, called inside ``session`` before any item
    # is claimed (see ``bots.core.preflight`` for the contract). Not declared here so a bot with
    # nothing to check (claim_edits) needs no stub; the runner looks it up with ``getattr``.
    # Optional too: ``process_factory`` (a picklable ``Settings -> Bot``), which a bot whose items
    # cost CPU names so ``processes = N`` can start helper processes (``core/runner/processes.py``);
    # without it the run stays in one process whatever ``processes`` says.


class Preflighted(Bot, Protocol):
    """A bot that checks its run's setup before any item is claimed (``bots.core.preflight``)."""

    def preflight(self, run: RunContext) -> list[SetupProblem]:
        """Every setup problem of this run (missing or wrong credentials, an unreachable site, a
        refused sign-in); an empty list when the run may start."""
