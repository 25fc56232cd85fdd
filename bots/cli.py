"""The ``bots`` command (DESIGN section 3).

Exit codes: 0 success (routed exceptions are a success), 1 the run failed,
2 bad usage or bad input.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from bots.core.errors import BotError, ConfigError, InputError
from bots.core.logging import configure_logging
from bots.core.settings import BOT_NAMES, Settings

app = typer.Typer(help="rcm-bots: revenue-cycle bots with an exception workbook and an audit trail.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
worklist_app = typer.Typer(help="Load worklists into the store.", no_args_is_help=True)
audit_app = typer.Typer(help="Check and read the audit trail.", no_args_is_help=True)
workbook_app = typer.Typer(help="The exception workbook coders work in.", no_args_is_help=True)
app.add_typer(worklist_app, name="worklist")
app.add_typer(audit_app, name="audit")
app.add_typer(workbook_app, name="workbook")
edits_app = typer.Typer(help="Load CMS NCCI PTP and MUE edit tables.", no_args_is_help=True)
app.add_typer(edits_app, name="edits")
scheduler_app = typer.Typer(help="Run the bots on their schedules (config/bots.toml).", no_args_is_help=True)
app.add_typer(scheduler_app, name="scheduler")

# Piped into a file or a ticket, tables keep every column instead of rich's 80-column default.
_PIPE_WIDTH = None if sys.stdout.isatty() else 200
console = Console(soft_wrap=True, width=_PIPE_WIDTH)
err_console = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 200)

# Bot packages are imported by name so bots.core never depends on a bot.
BOT_MODULES = {name: f"bots.{name}" for name in BOT_NAMES}


class _State:
    config_dir: Path | None = None
    home: Path | None = None


state = _State()


@app.callback()
def main(
    config_dir: Annotated[Optional[Path], typer.Option("--config-dir", envvar="BOTS_CONFIG_DIR",
                                                       help="Configuration folder (default ./config).")] = None,
    home: Annotated[Optional[Path], typer.Option("--home", envvar="BOTS_HOME",
                                                 help="Runtime data folder (default ./var).")] = None,
) -> None:
    state.config_dir = config_dir
    state.home = home


def get_settings() -> Settings:
    kwargs: dict[str, Any] = {}
    if state.config_dir is not None:
        kwargs["config_dir"] = state.config_dir
    if state.home is not None:
        kwargs["home"] = state.home
    try:
        settings = Settings(**kwargs)
        settings.config  # validate config/bots.toml now, with a clear message
    except ConfigError:
        raise
    except Exception as exc:  # pydantic-settings validation of BOTS_* variables
        raise ConfigError(f"invalid setting: {exc}") from None
    settings.ensure_dirs()
    configure_logging(settings.logs_dir, settings.log_level)
    return settings


def open_store(settings: Settings):  # noqa: ANN201 - Store, imported lazily for a fast --help
    from bots.core.store import Store

    return Store(settings.db_url)


def create_bot(name: str, settings: Settings) -> Any:
    module = importlib.import_module(BOT_MODULES[name])
    return module.create_bot(settings)


def known_payers(settings: Settings) -> set[str] | None:
    folder = settings.config_dir / "payers"
    payers = {p.stem.lower() for p in folder.glob("*.toml")} if folder.is_dir() else set()
    return payers or None


@contextmanager
def user_errors() -> Iterator[None]:
    """Bad input and bad config exit 2 with one clear line, not a traceback."""
    try:
        yield
    except (InputError, ConfigError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except BotError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None


def _progress_run(bot: Any, settings: Settings, store: Any, *, only_refs: list[str] | None,
                  show: bool, trigger: str = "manual") -> Any:
    from bots.core.runner import run_bot

    if not show:
        return run_bot(bot, settings, store, only_refs=only_refs, trigger=trigger)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn(f"[bold]{bot.name}[/]"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True) as progress:
        task = progress.add_task(bot.name, total=None)
        return run_bot(bot, settings, store, only_refs=only_refs, trigger=trigger,
                       progress=lambda done, _total: progress.update(task, completed=done))


def _print_run(result: Any) -> None:
    c = result.counts
    colour = "green" if result.ok else "red"
    console.print(
        f"[{colour}]{result.bot}[/] run {result.run_id}: {result.status}; items {c['items']}, done {c['done']}, "
        f"exceptions {c['exceptions']}, failed {c['failed']}, deferred {c['deferred']}, "
        f"retry next run {c['retried']}, retries {c['retries']} in {result.seconds:.1f}s", highlight=False)
    if result.message:
        console.print(f"  {result.message}", highlight=False)
    if result.workbook:
        console.print(f"  workbook: {result.workbook}", highlight=False)


@app.command()
def run(
    bot: Annotated[str, typer.Argument(help="claim_edits | payer_portal | status_sync | all")],
    worklist: Annotated[Optional[Path], typer.Option(help="Load this worklist first and limit the run to its claims.")] = None,
    claim: Annotated[Optional[list[str]], typer.Option(help="Limit the run to these claim ids (repeatable).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print a one-line JSON summary per bot.")] = False,
) -> None:
    """Run a bot once, now."""
    names = list(BOT_NAMES) if bot == "all" else [bot]
    if any(n not in BOT_NAMES for n in names):
        err_console.print(f"[bold red]error:[/] unknown bot {bot!r}; choose one of {', '.join(BOT_NAMES)} or all")
        raise typer.Exit(2)
    with user_errors():
        settings = get_settings()
        store = open_store(settings)
        claim_ids: set[str] | None = set(claim) if claim else None
        if worklist is not None:
            from bots.core.worklist import load_worklist, read_rows

            load_worklist(store, worklist, known_payers=known_payers(settings))
            ids = {raw.get("claim_id", "").strip() for _, raw in read_rows(worklist)}
            claim_ids = ids if claim_ids is None else claim_ids & ids
        failed = False
        for name in names:
            b = create_bot(name, settings)
            only = b.references_for_claims(store, claim_ids) if claim_ids is not None else None
            result = _progress_run(b, settings, store, only_refs=only, show=not json_out and sys.stderr.isatty())
            failed |= not result.ok
            if json_out:
                print(json.dumps(result.as_dict()))
            else:
                _print_run(result)
    raise typer.Exit(1 if failed else 0)


@worklist_app.command("load")
def worklist_load(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX worklist, one row per service line.")],
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Load a worklist into the store (loading the same file twice adds nothing)."""
    from bots.core.worklist import load_worklist

    with user_errors():
        settings = get_settings()
        store = open_store(settings)
        result = load_worklist(store, file, known_payers=known_payers(settings))
    if json_out:
        print(json.dumps(result.as_dict()))
    else:
        console.print(f"{file}: {result.rows} rows; claims new {result.claims_new}, updated {result.claims_updated}, "
                      f"unchanged {result.claims_unchanged}, held back {result.claims_rejected}", highlight=False)
        for p in result.problems:
            console.print(f"  row {p.row}, column {p.column}: {p.message} (value: {p.value!r})", highlight=False)
        if result.problems:
            console.print("  the bad rows are in the exception workbook (Claim Edits, rule INPUT-FORMAT)")


@worklist_app.command("inbox")
def worklist_inbox(
    folder: Annotated[Optional[Path], typer.Argument(help="Inbox folder (default: every inbox named in config/bots.toml).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line per inbox.")] = False,
) -> None:
    """Load the new CSV/XLSX files in an inbox now, as a scheduled run does first.

    Loaded files move to archive/ (with a report if some rows were bad); unreadable ones to
    rejected/ with a report beside them. Exit 2 if any file was rejected.
    """
    from rich.markup import escape

    from bots.core.inbox import configured_inboxes, process_inbox

    with user_errors():
        settings = get_settings()
        store = open_store(settings)
        folders = [folder] if folder is not None else configured_inboxes(settings)
        if not folders:
            raise InputError("no inbox folder given and none configured ([bots.<bot>] inbox in config/bots.toml)")
        results = [process_inbox(settings, store, f, create=folder is None) for f in folders]
    for res in results:
        if json_out:
            print(json.dumps(res.as_dict()))
            continue
        if not res.files and not res.waiting:
            console.print(f"{escape(res.folder)}: no new files", highlight=False)
        for f in res.files:
            if f.status == "rejected":
                console.print(f"[red]rejected[/] {escape(f.name)} -> {escape(f.moved_to)}\n  {escape(f.problem or '')}"
                              f"\n  report: {escape(f.report or '')}", highlight=False)
                continue
            assert f.load is not None
            console.print(f"[green]loaded[/] {escape(f.name)} -> {escape(f.moved_to)}: {f.load.rows} rows; claims new "
                          f"{f.load.claims_new}, updated {f.load.claims_updated}, unchanged {f.load.claims_unchanged}, "
                          f"held back {f.load.claims_rejected}", highlight=False)
            if f.report:
                console.print(f"  {len(f.load.problems)} bad row(s), listed in {escape(f.report)} and the exception "
                              "workbook (Claim Edits, rule INPUT-FORMAT)", highlight=False)
        for name in res.waiting:
            console.print(f"waiting  {escape(name)}: still being written or open in Excel; picked up next time",
                          highlight=False)
    raise typer.Exit(2 if any(res.rejected for res in results) else 0)


@edits_app.command("import")
def edits_import(
    files: Annotated[list[Path], typer.Argument(help="CMS PTP or MUE file(s): .txt/.csv as CMS publishes them, or .xlsx. "
                                                     "Give all parts of a split PTP table (…-f1.txt … -f4.txt) at once.")],
    kind: Annotated[Optional[str], typer.Option(help="ptp or mue (default: detected from the file).")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Load a CMS NCCI PTP or MUE table, replacing the active one atomically.

    A table with malformed lines is rejected whole (exit 2, naming file, line, column and value); nothing changes.
    """
    from bots.claim_edits.importer import TableRejected, import_tables

    with user_errors():
        settings = get_settings()
        store = open_store(settings)
        try:
            result = import_tables(store, files, kind=kind)
        except TableRejected as exc:
            if json_out:
                print(json.dumps({"ok": False, "kind": exc.kind, "problems": exc.total,
                                  "first": [str(p) for p in exc.problems]}))
                raise typer.Exit(2) from None
            raise
    if json_out:
        print(json.dumps({"ok": True, **result.as_dict()}))
        return
    name = "NCCI PTP" if result.kind == "ptp" else "MUE"
    console.print(f"{name} table loaded: {result.rows:,} rows in {result.seconds:.1f}s, now active as "
                  f"[bold]{result.label}[/]", highlight=False)
    if result.replaced:
        console.print(f"  replaced {result.replaced}", highlight=False)


@app.command()
def runs(
    bot: Annotated[Optional[str], typer.Option(help="Only this bot.")] = None,
    last: Annotated[int, typer.Option(help="How many runs.")] = 20,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run history: start, end, status, items done/exception/failed, retries."""
    with user_errors():
        settings = get_settings()
        rows = open_store(settings).list_runs(bot, last)
    if json_out:
        for r in rows:
            print(json.dumps(r))
        return
    table = Table("run", "bot", "status", "started", "ended", "items", "done", "exc", "failed", "deferred",
                  "retries", "message")
    for r in rows:
        table.add_row(r["run_id"], r["bot"], r["status"], r["started_at"][:19], (r["ended_at"] or "")[:19],
                      str(r["items"]), str(r["done"]), str(r["exceptions"]), str(r["failed"]), str(r["deferred"]),
                      str(r["retries"]), (r["message"] or "")[:60])
    console.print(table)


@app.command()
def health(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Exit 0 when every scheduled bot's last run succeeded on time; else exit 1 and say why."""
    from bots.core.health import check_health

    with user_errors():
        settings = get_settings()
        verdicts = check_health(settings, open_store(settings))
    ok = all(v.ok for v in verdicts)
    if json_out:
        print(json.dumps({"ok": ok, "bots": [v.as_dict() for v in verdicts]}))
    else:
        for v in verdicts:
            console.print(f"{'OK  ' if v.ok else 'FAIL'} {v.bot}: {v.reason}", highlight=False)
        if not verdicts:
            console.print("no scheduled bots and no runs yet")
    raise typer.Exit(0 if ok else 1)


@scheduler_app.command("start")
def scheduler_start() -> None:
    """Run the schedules in config/bots.toml in the foreground (the systemd service runs this).

    SIGTERM or Ctrl-C lets each running bot finish its current item, records the run as
    interrupted and exits 0. A second scheduler on the same database refuses to start (exit 1).
    """
    import os

    from bots.core.scheduler import build_scheduler

    with user_errors():
        settings = get_settings()
        # Jobs rebuild Settings from the environment on each run: hand them this command's choices.
        os.environ["BOTS_HOME"] = str(settings.home.resolve())
        os.environ["BOTS_CONFIG_DIR"] = str(settings.config_dir.resolve())
        if settings.database_url:
            os.environ["BOTS_DATABASE_URL"] = settings.database_url
        service = build_scheduler(settings)

        def started(jobs: list[Any]) -> None:
            if not jobs:
                console.print("scheduler running with no schedules (set [bots.<bot>] schedule in config/bots.toml)")
            for job in jobs:
                nxt = job.next_run_time.strftime("%Y-%m-%d %H:%M %Z") if job.next_run_time else "never"
                console.print(f"scheduled {job.name}: next run {nxt}", highlight=False)
            console.print(f"scheduler running (pid {os.getpid()}); Ctrl-C or SIGTERM stops after the current item")

        service.run(on_started=started)
    console.print("scheduler stopped")


@scheduler_app.command("jobs")
def scheduler_jobs(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the schedules with their next run times, and whether a scheduler is running."""
    from bots.core.scheduler import list_jobs, scheduler_holder

    with user_errors():
        settings = get_settings()
        store = open_store(settings)
        jobs = list_jobs(settings, store)
        holder = scheduler_holder(store)
    if json_out:
        print(json.dumps({"scheduler_running": holder is not None, "scheduler": holder,
                          "jobs": [j.as_dict() for j in jobs]}))
        return
    if holder is not None:
        console.print(f"scheduler running on {holder.get('host')} (pid {holder.get('pid')}) "
                      f"since {holder.get('started')} UTC", highlight=False)
    else:
        console.print("scheduler not running (start it with `bots scheduler start` or the systemd service)")
    table = Table("bot", "schedule", "timezone", "next run", "inbox", "from")
    for j in jobs:
        table.add_row(j.bot, j.schedule, j.timezone,
                      j.next_run_time.strftime("%Y-%m-%d %H:%M %Z") if j.next_run_time else "never",
                      j.inbox or "", j.source)
    console.print(table)


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the audit hash chain; exit 1 naming each edited or deleted record."""
    with user_errors():
        settings = get_settings()
        problems = open_store(settings).verify_audit()
    if problems:
        for p in problems:
            err_console.print(f"[bold red]TAMPERED[/] {p}", highlight=False)
        raise typer.Exit(1)
    console.print("audit chain intact")


@audit_app.command("show")
def audit_show(claim_id: Annotated[str, typer.Argument(help="Claim id, e.g. CLM-1001")],
               json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print one claim's whole audit trail."""
    with user_errors():
        settings = get_settings()
        trail = open_store(settings).audit_trail(claim_id)
    if json_out:
        for r in trail:
            print(json.dumps(r))
        return
    if not trail:
        console.print(f"no audit records for {claim_id}")
        raise typer.Exit(1)
    for r in trail:
        rule = f" {r['rule_id']} v{r['rule_version']}" if r["rule_id"] else ""
        line = f"#{r['seq']} {r['ts'][:19]} {r['bot'] or ''} {r['action']}{rule} -> {r['result'] or ''}"
        if r["detail"]:
            line += f"  {r['detail']}"
        if r["evidence_path"]:
            line += f"\n      evidence {r['evidence_path']} sha256 {r['evidence_sha256']}"
        console.print(line, highlight=False, markup=False)


@workbook_app.command("write")
def workbook_write(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Read coder edits back and render the exception workbook now (exit 1 if it could not be written)."""
    from bots.core.workbook import sync_workbook

    with user_errors():
        settings = get_settings()
        result = sync_workbook(settings, open_store(settings))
    if json_out:
        print(json.dumps(result.as_dict()))
    else:
        console.print(result.message, highlight=False)
    raise typer.Exit(0 if result.written else 1)


@workbook_app.command("status")
def workbook_status_cmd(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Pending rows, the last write and its result, rows awaiting sync, Bot Check problems, lock file."""
    from bots.core.workbook import workbook_status

    with user_errors():
        settings = get_settings()
        status = workbook_status(settings, open_store(settings))
    if json_out:
        print(json.dumps(status))
        return
    lock = (f"yes: {status['lock_file']} ({status['lock_age_minutes']} min old); writes wait until it is gone"
            if status["lock_present"] else "no")
    lines = [
        ("workbook", status["path"] + ("" if status["exists"] else " (not written yet)")),
        ("open in Excel/LibreOffice", lock),
        ("rows", f"{status['rows']} (open {status['open_rows']}, cleared {status['cleared_rows']}, "
                 f"synced {status['synced_rows']})"),
        ("pending (not yet in the file)", str(status["pending_rows"])),
        ("resolved, awaiting sync", str(status["awaiting_sync"])),
        ("rows with a Bot Check", str(status["bot_check_rows"])),
        ("last written", status["last_written_at"] or "never"),
        ("last attempt", f"{status['last_attempt_at'] or 'never'}: {status['last_result'] or ''}"),
    ]
    for label, value in lines:
        console.print(f"{label:>30}  {value}", highlight=False)
    for check in status["bot_checks"]:
        console.print(f"  {check['sheet']} {check['exception_id']}: {check['bot_check']}", highlight=False)
    for problem in status["problems"]:
        console.print(f"  [yellow]problem:[/] {problem}", highlight=False)


@app.command()
def demo(
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
    faults: Annotated[str, typer.Option(help="Mock portal faults for the demo.")] = "error_rate=0.03,seed=7",
) -> None:
    """Start the mock portals, load the sample worklist, run all three bots once, print a summary."""
    from bots.demo import run_demo

    with user_errors():
        settings = get_settings()
        if not json_out:
            console.print("starting the mock portals and running claim_edits, payer_portal, status_sync …")
        result = run_demo(settings, faults=faults,
                          progress=None if json_out else (lambda name: console.print(f"  running {name}")))
    if json_out:
        print(json.dumps(result.as_dict()))
    else:
        loaded = result.loaded
        console.print(f"worklist: {loaded['rows']} rows, {loaded['claims_new']} claims loaded, "
                      f"{loaded['claims_rejected']} held back for bad rows", highlight=False)
        table = Table("bot", "status", "items", "done", "exc", "failed", "defer", "retries", "secs",
                      title="rcm-bots demo")
        for r in result.runs:
            c = r.counts
            table.add_row(r.bot, r.status, str(c["items"]), str(c["done"]), str(c["exceptions"]), str(c["failed"]),
                          str(c["deferred"]), str(c["retries"]), f"{r.seconds:.1f}")
        console.print(table)
        queues = Table("queue", "open rows", title="exception workbook")
        for queue, n in sorted(result.queues.items()):
            queues.add_row(queue, str(n))
        console.print(queues)
        console.print(f"workbook:  {result.workbook}", highlight=False)
        console.print(f"log:       {result.log}", highlight=False)
        console.print(f"evidence:  {result.evidence}", highlight=False)
        console.print(f"explore:   bots --home {result.home} runs | audit verify | workbook status", highlight=False)
        console.print(f"total time {result.seconds:.1f}s", highlight=False)
    raise typer.Exit(0 if all(r.ok for r in result.runs) else 1)


@app.command("mock-portals")
def mock_portals_cmd(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = a free one).")] = 8700,
    data: Annotated[Optional[Path], typer.Option(help="JSON data file (default: the bundled sample).")] = None,
    faults: Annotated[str, typer.Option(help="e.g. latency_ms=300,error_rate=0.1,seed=7")] = "",
) -> None:
    """Serve the mock payer portals and billing app (for tests and demos)."""
    # The mock portals are a separate package; only this launcher touches it.
    mp_main = importlib.import_module("mock_portals.__main__").main
    argv = ["--port", str(port), "--faults", faults] + (["--data", str(data)] if data else [])
    raise typer.Exit(mp_main(argv) or 0)


if __name__ == "__main__":
    app()
