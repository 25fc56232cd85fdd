"""``bots runs``, ``bots health`` and ``bots audit …``: reading what the bots did."""

from __future__ import annotations

import json
from datetime import tzinfo
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from bots.cli.app import app, console, err_console, get_settings, open_store, user_errors

audit_app = typer.Typer(help="Check and read the audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@app.command()
def runs(
    bot: Annotated[Optional[str], typer.Option(help="Only this bot.")] = None,
    last: Annotated[int, typer.Option(help="How many runs.")] = 20,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run history: start, end, status, items done/exception/failed/carried over, retries."""
    from bots.core import registry
    from bots.core.times import display_zone, show_time

    with user_errors():
        if bot is not None:
            registry.spec(bot)  # an unknown name exits 2 listing the installed bots
        settings = get_settings()
        zone = display_zone(settings)
        rows = open_store(settings).list_runs(bot, last)
    if json_out:
        for r in rows:
            print(json.dumps(r))
        return
    table = Table("run", "bot", "status", "started", "ended", "items", "done", "exc", "failed", "deferred",
                  "carried", "retries", "message")
    for r in rows:
        table.add_row(r["run_id"], r["bot"], r["status"], show_time(r["started_at"], zone),
                      show_time(r["ended_at"], zone), str(r["items"]), str(r["done"]), str(r["exceptions"]),
                      str(r["failed"]), str(r["deferred"]), str(r["carried_over"] or 0), str(r["retries"]),
                      (r["message"] or "")[:60])
    console.print(table)


@app.command()
def health(json_out: Annotated[bool, typer.Option("--json", help="One JSON object, also on errors.")] = False) -> None:
    """Monitoring-plugin exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (no database, config broken).

    Reads only: never creates a database. Every finding per bot is listed with its level.
    """
    from bots.core.health import check_health, unknown

    try:
        report = check_health(get_settings(read_only=True))
    except Exception as exc:  # noqa: BLE001 - a broken config is UNKNOWN, never a traceback
        report = unknown(exc)
    if json_out:
        print(json.dumps(report.as_dict()))
    else:
        for line in report.lines():
            console.print(line, highlight=False, markup=False)
    raise typer.Exit(report.code)


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the chain, check each record's HMAC and the signed checkpoints outside the database;
    exit 1 naming each edited, deleted, cut or unwitnessed record."""
    with user_errors():
        settings = get_settings()
        problems = open_store(settings).verify_audit()
    if problems:
        for p in problems:
            err_console.print(f"[bold red]TAMPERED[/] {escape(p)}", highlight=False)
        raise typer.Exit(1)
    console.print("audit chain intact")


@audit_app.command("rotate-key")
def audit_rotate_key() -> None:
    """Make a new current audit key; older keys stay in the key file so older records still verify.

    The chain head is checkpointed under the new key at once.
    """
    with user_errors():
        settings = get_settings()
        store = open_store(settings)
        assert store.audit_keys is not None
        kid = store.audit_keys.rotate()
        head = store.checkpoint_audit_head()
        kept = len(store.audit_keys.known_ids()) - 1
    console.print(f"new audit key {kid} in {store.audit_keys.key_file} ({kept} older key(s) kept for "
                  f"verification); chain head checkpointed at record {head[0] if head else 0}", highlight=False)


@audit_app.command("show")
def audit_show(claim_id: Annotated[str, typer.Argument(help="Claim id, e.g. CLM-1001")],
               json_out: Annotated[bool, typer.Option("--json", help="One JSON object per record; a claim's "
                                                       "rules_evaluated record as one object per rule.")] = False,
               ) -> None:
    """Print one claim's whole audit trail: every rule decision with its rule version, the input digest and
    the edit-table versions, status reads with their evidence, pushes, coder edits; then where each of the
    claim's exception rows is now (the workbook, or the archive file it was moved to)."""
    from bots.core.store.audit import decisions
    from bots.core.times import display_zone, show_time

    with user_errors():
        settings = get_settings()
        zone = display_zone(settings)
        store = open_store(settings)
        trail = store.audit_trail(claim_id)
        places = store.row_places(claim_id)
    if json_out:
        for r in trail:
            for d in decisions(r):
                print(json.dumps(d))
        return
    if not trail:
        console.print(f"no audit records for {claim_id}")
        _print_places(places, settings.workbook_path.name, zone)
        raise typer.Exit(1)
    for r in trail:
        head = f"#{r['seq']} {show_time(r['ts'], zone)} {r['bot'] or ''} {r['action']}"
        parts = decisions(r)
        if "verdict" in parts[0]:  # a record carrying several rule decisions
            tables = parts[0].get("tables")
            shown = "; ".join(f"{k} {v}" for k, v in sorted(tables.items())) if isinstance(tables, dict) else ""
            console.print(f"{head} -> {r['result'] or ''}  {len(parts)} rules; input {r['input_digest'] or '-'}"
                          + (f"; tables {shown}" if shown else ""), highlight=False, markup=False)
            for d in parts:  # one line per rule decision, with the rule's version
                line = f"    {d['rule_id']} v{d['rule_version']} -> {d['result']}"
                if d["detail"]:
                    line += f"  {d['detail']}"
                console.print(line, highlight=False, markup=False)
            continue
        rule = f" {r['rule_id']} v{r['rule_version']}" if r["rule_id"] else ""
        line = f"{head}{rule} -> {r['result'] or ''}"
        if r["detail"]:
            line += f"  {r['detail']}"
        if r["evidence_path"]:
            line += f"\n      evidence {r['evidence_path']} sha256 {r['evidence_sha256']}"
        console.print(line, highlight=False, markup=False)
    _print_places(places, settings.workbook_path.name, zone)


def _print_places(places: list[dict[str, Any]], workbook: str, zone: tzinfo) -> None:
    """Where a claim's exception rows are now: the live workbook's sheet, or the archive file."""
    from bots.core.times import show_time
    from bots.core.workbook.layout import sheet_title

    for p in places:
        head = f"row {p['exception_id']} ({p['queue']}, {p['bot_status']}):"
        if p["archived_at"]:
            line = f"{head} archived {show_time(p['archived_at'], zone)} to {p['archive_file']} beside {workbook}"
        else:
            line = f"{head} in {workbook}, sheet {sheet_title(p['queue'])}"
            if p["archive_file"]:
                line += f" (found again after it was archived; its earlier copy is in {p['archive_file']})"
        console.print(line, highlight=False, markup=False)
