"""``bots workbook write`` and ``bots workbook status``: the exception workbook coders work in."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bots.cli.app import app, console, get_settings, open_store, user_errors

workbook_app = typer.Typer(help="The exception workbook coders work in.", no_args_is_help=True)
app.add_typer(workbook_app, name="workbook")


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
    from bots.core.times import display_zone, show_time
    from bots.core.workbook import workbook_status

    with user_errors():
        settings = get_settings()
        zone = display_zone(settings)
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
        ("last written", show_time(status["last_written_at"], zone, empty="never")),
        ("last attempt", f"{show_time(status['last_attempt_at'], zone, empty='never')}: {status['last_result'] or ''}"),
    ]
    for label, value in lines:
        console.print(f"{label:>30}  {value}", highlight=False)
    for check in status["bot_checks"]:
        console.print(f"  {check['sheet']} {check['exception_id']}: {check['bot_check']}", highlight=False)
    for problem in status["problems"]:
        console.print(f"  [yellow]problem:[/] {problem}", highlight=False)
