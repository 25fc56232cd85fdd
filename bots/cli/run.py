"""``bots run``, ``bots list``, ``bots worklist …`` and ``bots edits import|changes``: putting work in and running it.

Bots are found through ``bots.core.registry`` (entry points), so a newly installed bot
is listed and runnable here without a change to this module.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from bots.cli.app import app, console, create_bot, err_console, get_settings, known_payers, open_store, user_errors
from bots.core.errors import InputError
from bots.core.settings import Settings

worklist_app = typer.Typer(help="Load worklists into the store.", no_args_is_help=True)
edits_app = typer.Typer(help="Load CMS NCCI PTP and MUE edit tables.", no_args_is_help=True)
app.add_typer(worklist_app, name="worklist")
app.add_typer(edits_app, name="edits")


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
    # degraded: finished, but a site stopped answering and its work was carried over (exit 1 too)
    colour = "green" if result.ok else "yellow" if result.status == "degraded" else "red"
    console.print(
        f"[{colour}]{result.bot}[/] run {result.run_id}: {result.status}; items {c['items']}, done {c['done']}, "
        f"exceptions {c['exceptions']}, failed {c['failed']}, deferred {c['deferred']}, "
        f"retry next run {c['retried']}, retries {c['retries']} in {result.seconds:.1f}s", highlight=False)
    if result.message:
        console.print(f"  {result.message}", highlight=False)
    if result.workbook:
        console.print(f"  workbook: {result.workbook}", highlight=False)



@app.command("list")
def list_bots(json_out: Annotated[bool, typer.Option("--json", help="One JSON line per bot.")] = False) -> None:
    """The installed bots, in the order `bots run all` runs them."""
    from bots.core import registry

    with user_errors():
        specs = list(registry.specs().values())
    for s in specs:
        if json_out:
            print(json.dumps({"name": s.name, "order": s.order, "summary": s.summary, "accepts": list(s.accepts)}))
        else:
            accepts = f" (accepts {', '.join(s.accepts)})" if s.accepts else ""
            console.print(f"{s.name:<14} {s.summary}{accepts}", highlight=False)


@app.command()
def run(
    bot: Annotated[str, typer.Argument(help="A bot's name (see `bots list`) or all.")],
    worklist: Annotated[Optional[Path], typer.Option(help="Load this worklist first and limit the run to its claims.")] = None,
    claim: Annotated[Optional[list[str]], typer.Option(help="Limit the run to these claim ids (repeatable).")] = None,
    profile: Annotated[Optional[str], typer.Option(help="Worklist profile for --worklist (config/worklists/NAME.toml).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print a one-line JSON summary per bot.")] = False,
) -> None:
    """Run a bot once, now (all: every installed bot, in run order)."""
    from bots.core import registry

    with user_errors():
        installed = registry.names()
    names = list(installed) if bot == "all" else [bot]
    if any(n not in installed for n in names):
        err_console.print(f"[bold red]error:[/] unknown bot {bot!r}; installed bots: {', '.join(installed) or 'none'}"
                          " (or all)", highlight=False)
        raise typer.Exit(2)
    with user_errors():
        settings = get_settings()
        store = open_store(settings)
        claim_ids: set[str] | None = set(claim) if claim else None
        if worklist is not None:
            from bots.core.worklist import load_worklist, read_rows
            from bots.core.worklist_profiles import load_profile

            chosen = load_profile(settings.config_dir, profile)
            load_worklist(store, worklist, known_payers=known_payers(settings), profile=chosen)
            ids = {raw.get("claim_id", "").strip() for _, raw in read_rows(worklist, aliases=chosen.aliases)}
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
        # A run by hand is watched like a scheduled one: metrics textfile and alerts (never raise).
        from bots.core.scheduler.job import after_run

        after_run(settings, store)
    raise typer.Exit(1 if failed else 0)



_PROFILE_HELP = ("Worklist profile: config/worklists/NAME.toml (the source's headers, date and money formats, "
                 "codes). Default: the worklist format as documented.")


@worklist_app.command("load")
def worklist_load(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX worklist, one row per service line.")],
    profile: Annotated[Optional[str], typer.Option(help=_PROFILE_HELP)] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Load a worklist into the store (loading the same file twice adds nothing)."""
    from bots.core.worklist import load_worklist
    from bots.core.worklist_profiles import load_profile

    with user_errors():
        settings = get_settings()
        chosen = load_profile(settings.config_dir, profile)  # a bad profile stops here, before the store
        store = open_store(settings)
        result = load_worklist(store, file, known_payers=known_payers(settings), profile=chosen)
    if json_out:
        print(json.dumps(result.as_dict()))
    else:
        via = f" (profile {result.profile})" if profile else ""
        console.print(f"{file}{via}: {result.rows} rows; claims new {result.claims_new}, updated {result.claims_updated}, "
                      f"unchanged {result.claims_unchanged}, held back {result.claims_rejected}", highlight=False)
        for p in result.problems:
            console.print(f"  row {p.row}, column {p.column}: {p.message} ({p.shown})", highlight=False)
        if result.problems:
            console.print("  the bad rows are on the Input Problems sheet of the exception workbook (rule INPUT-FORMAT)")


@worklist_app.command("inbox")
def worklist_inbox(
    folder: Annotated[Optional[Path], typer.Argument(help="Inbox folder (default: every inbox named in config/bots.toml).")] = None,
    profile: Annotated[Optional[str], typer.Option(help=_PROFILE_HELP + " Default: the folder's inbox_profile "
                                                   "in config/bots.toml.")] = None,
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
        results = [process_inbox(settings, store, f, create=folder is None, profile=profile) for f in folders]
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
                              "workbook (Input Problems sheet, rule INPUT-FORMAT)", highlight=False)
        for name in res.waiting:
            console.print(f"waiting  {escape(name)}: still being written or open in Excel; picked up next time",
                          highlight=False)
    raise typer.Exit(2 if any(res.rejected for res in results) else 0)


@edits_app.command("import")
def edits_import(
    files: Annotated[list[Path], typer.Argument(help="CMS PTP or MUE file(s): .txt/.csv or .xlsx, or the .zip archives CMS "
                                                     "distributes. Give all parts of a split PTP table (…-f1 … -f4) at once.")],
    kind: Annotated[Optional[str], typer.Option(help="ptp or mue (default: detected from the file).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report the effect on unsubmitted claims (rows raised "
                                                            "and cleared per rule) without activating the table.")] = False,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Load a CMS NCCI PTP or MUE table, replacing the active one atomically.

    The replacement is recorded as a change (pairs or codes added, deleted, changed) and the unsubmitted claims
    it can affect are scanned again by the next claim_edits run (`bots edits changes` shows the effect).
    A table with malformed lines is rejected whole (exit 2, naming file, line, column and value); nothing changes.
    """
    from rich.markup import escape

    from bots.claim_edits.importer import TableRejected, import_tables

    with user_errors():
        settings = get_settings()
        store = open_store(settings)
        try:
            if dry_run:
                _edits_dry_run(settings, store, files, kind, json_out)
                return
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
                  f"[bold]{escape(result.label)}[/]", highlight=False)
    if result.replaced:
        console.print(f"  replaced {escape(result.replaced)}", highlight=False)
    if result.change_id is not None:
        from bots.core.store.changes import describe_change

        change = next(c for c in store.changes() if c["id"] == result.change_id)
        console.print(f"  change {change['id']}: {describe_change(change)}; {change['refs']} unsubmitted claim(s) "
                      f"will be scanned again by the next claim_edits run", highlight=False, markup=False)


def _edits_dry_run(settings: Any, store: Any, files: list[Path], kind: Optional[str], json_out: bool) -> None:
    """Stage the table as an inactive version, diff it, evaluate the claims it can affect in memory, drop it."""
    from bots.claim_edits.changes import affected_refs, preview_effect, table_diff
    from bots.core.store.changes import describe_summary
    from bots.claim_edits.importer import active_versions, staged_table

    with staged_table(store, files, kind=kind) as staged:
        old = active_versions(store).get(staged.kind)
        diff = refs = None
        if old is not None:
            with store.read() as conn:
                diff = table_diff(conn, staged.kind, old[0], staged.version_id)
                refs = affected_refs(store, conn, diff)
        effect = preview_effect(settings, store, staged.kind, staged.version_id, staged.label, refs or [])
        out = {"ok": True, "dry_run": True, "kind": staged.kind, "label": staged.label, "rows": staged.rows,
               "active": old[1] if old else None, "summary": diff.summary() if diff else None, "effect": effect}
    if json_out:
        print(json.dumps(out))
        return
    name = "NCCI PTP" if out["kind"] == "ptp" else "MUE"
    console.print(f"dry run: {name} table {out['label']} was not activated; the active table is "
                  f"{out['active'] or '(none)'}", highlight=False, markup=False)
    if diff is not None:
        console.print(f"  {describe_summary(out['summary'])}", highlight=False, markup=False)
    for line in _effect_lines(effect, would=True):
        console.print(f"  {line}", highlight=False, markup=False)


def _effect_lines(effect: dict[str, Any] | None, *, would: bool = False) -> list[str]:
    if effect is None:
        return ["effect: pending (the claims it sent back are scanned by the next claim_edits run)"]
    verb = ("would raise", "would clear") if would else ("raised", "cleared")
    lines = [f"{effect['rescanned']} claim(s) {'to rescan' if would else 'rescanned'}"]
    for key, word in zip(("raised", "cleared"), verb, strict=True):
        for rule, ids in sorted(effect[key].items()):
            lines.append(f"{word} {len(ids)} {rule} row(s): {', '.join(ids)}")
    if not effect["raised"] and not effect["cleared"]:
        lines.append("no row raised or cleared")
    return lines


@edits_app.command("changes")
def edits_changes(
    since: Annotated[Optional[str], typer.Option(help="Only changes recorded on or after this date (YYYY-MM-DD).")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Changes to the edit tables, the claim_edits rules and the payer profiles, each with its effect:
    the rows the rescan it caused raised and cleared, per rule."""
    from bots.core.store.changes import describe_change
    from bots.core.times import display_zone, show_time

    with user_errors():
        if since is not None:
            try:
                date.fromisoformat(since)
            except ValueError:
                raise InputError(f"--since: expected a date like 2026-10-03, got {since!r}") from None
        settings = get_settings()
        zone = display_zone(settings)
        found = open_store(settings).changes(since=since)
    if json_out:
        for c in found:
            print(json.dumps(c))
        return
    if not found:
        console.print("no changes recorded" + (f" since {since}" if since else ""))
        return
    for c in found:
        console.print(f"change {c['id']} {show_time(c['created_at'], zone)} {describe_change(c)}",
                      highlight=False, markup=False)
        console.print(f"    {c['old_version'] or '-'} -> {c['new_version'] or '-'}", highlight=False, markup=False)
        if c["kind"] == "payer_profile":  # acts on the next lookup; nothing is rescanned
            continue
        for line in _effect_lines(c["effect"]):
            console.print(f"    {line}", highlight=False, markup=False)
