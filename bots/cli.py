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
app.add_typer(worklist_app, name="worklist")
app.add_typer(audit_app, name="audit")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

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
