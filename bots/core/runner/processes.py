"""Worker processes: one run of a CPU-bound bot on more than one core.

Python runs one thread at a time per process, so a bot whose items cost CPU (claim_edits: rules
over tens of thousands of claims) uses one core however many threads it has. With
``[bots.<bot>] processes = N`` the run starts N - 1 helper processes beside its own workers.
Each helper is a robot of the same run: it opens the store, builds the bot and enters its
session, then claims, processes and commits batches under the run's id exactly as the run's own
threads do (the queue's claim is atomic on SQLite and PostgreSQL alike, so no item is taken
twice), and sends its counts back when the queue is empty. The run's record, message and
workbook stay the parent's.

Helpers start only when the queue holds more than one batch per process (a small run is not
worth a process start), with the ``spawn`` method (no fork of a process that has threads and
open database connections). A stop (SIGINT/SIGTERM) is passed on to them; each finishes the
batch in hand. A helper that dies without a result fails the run, and the items it still held
go back to the queue (``abandon_run_items``) for the next run.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Callable

from bots.core.logging import get_logger, logging_setup

__all__ = ["HelperReport", "WorkerProcesses"]

log = get_logger("bots.runner")


@dataclass
class _Job:
    """What a helper process needs to join a run (pickled to it)."""

    factory: Callable[[Any], Any]  # builds the bot from the settings (the registry's factory or the bot's class)
    settings: Any
    db_url: str
    keyed: bool  # the run's store signs its audit records (``open_store``); the helper's must too
    run_id: str
    bot: str
    only_refs: list[str] | None
    options: dict[str, Any]
    logging: tuple[Any, ...] | None
    handoffs: dict[str, str]  # handoff kind → bot, as the run resolved them (``registry.handoff_targets``)


@dataclass
class HelperReport:
    """What a helper sends back when its share of the queue is done."""

    counts: dict[str, int] = field(default_factory=dict)
    outages: dict[str, str] = field(default_factory=dict)
    carried: int = 0
    notes: list[str] = field(default_factory=list)
    crash: str | None = None


def _helper_main(job: _Job, conn: Connection) -> None:
    """A helper process: the run's worker loop, in a process of its own."""
    from bots.core.logging import configure_logging
    from bots.core.runner import _Run, _signals_stop
    from bots.core.runner.context import RunContext
    from bots.core.store import Store, open_store

    if job.logging is not None:
        logs_dir, level, console, stdout, max_bytes, backup_count = job.logging
        configure_logging(logs_dir, level, console=console, stdout=stdout, max_bytes=max_bytes,
                          backup_count=backup_count)
    from bots.core import registry

    registry.use_handoff_targets(job.handoffs)
    report = HelperReport()
    stop = threading.Event()
    store = open_store(job.settings) if job.keyed else Store(job.db_url)
    try:
        bot = job.factory(job.settings)
        ctx = RunContext(job.settings, store, job.bot, job.run_id, job.only_refs, stop, job.options)
        runner = _Run(bot, ctx, job.settings.config.retry_for(job.bot), None)
        with _signals_stop(stop):
            with bot.session(ctx):
                runner.work()
        report.counts, report.outages, report.carried = dict(runner.counts), dict(runner.outages), runner.carried
        report.notes = list(ctx.notes)
        if runner.crash is not None:
            report.crash = f"{type(runner.crash).__name__}: {runner.crash}"
    except Exception as exc:  # the session or the store broke: the parent fails the run and says why
        report.crash = f"{type(exc).__name__}: {exc}"
    finally:
        store.close()
    conn.send(report)
    conn.close()


class WorkerProcesses:
    """The helper processes of one run (none when the bot has ``processes = 1`` or the queue is small)."""

    def __init__(self) -> None:
        self._procs: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []

    @classmethod
    def start(cls, ctx: Any, *, claimable: int, factory: Callable[[Any], Any],
              handoffs: dict[str, str]) -> WorkerProcesses:
        """Start ``processes - 1`` helpers for this run when the queue gives each process a batch or more."""
        helpers = cls()
        cfg = ctx.config
        wanted = cfg.processes - 1
        if wanted < 1 or claimable <= cfg.batch_size * cfg.processes:
            return helpers
        mp = multiprocessing.get_context("spawn")
        store = ctx.store
        job = _Job(factory=factory, settings=ctx.settings, db_url=store.url, keyed=store.audit_keys is not None,
                   run_id=ctx.run_id, bot=ctx.bot, only_refs=list(ctx.only_refs) if ctx.only_refs is not None else None,
                   options=dict(ctx.options), logging=logging_setup(), handoffs=handoffs)
        for n in range(wanted):
            parent_end, child_end = mp.Pipe(duplex=False)
            proc = mp.Process(target=_helper_main, args=(job, child_end), name=f"{ctx.bot}-helper-{n + 1}",
                              daemon=True)
            proc.start()
            child_end.close()
            helpers._procs.append((proc, parent_end))
        ctx.log.info("worker_processes_started", helpers=wanted, pids=[p.pid for p, _ in helpers._procs],
                     claimable=claimable)
        return helpers

    def __len__(self) -> int:
        return len(self._procs)

    def join(self, stop: threading.Event) -> list[HelperReport]:
        """Wait for every helper, passing a stop on; a helper that ended without a report is a crash."""
        reports: list[HelperReport] = []
        told = False
        for proc, conn in self._procs:
            report: HelperReport | None = None
            while report is None:
                if stop.is_set() and not told:
                    for p, _ in self._procs:
                        _terminate(p)
                    told = True
                if conn.poll(0.2):
                    try:
                        report = conn.recv()
                    except EOFError:
                        break
                elif not proc.is_alive() and not conn.poll(0):
                    break
            proc.join(timeout=30)
            if report is None:
                report = HelperReport(crash=f"worker process {proc.name} (pid {proc.pid}) ended without a result "
                                       f"(exit code {proc.exitcode})")
            conn.close()
            reports.append(report)
        return reports


def _terminate(proc: multiprocessing.process.BaseProcess) -> None:
    """SIGTERM: the helper's stop handler finishes the item in hand, as the parent does."""
    if proc.is_alive() and proc.pid:
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
