"""``bots signin status`` and ``bots signin clear SITE``: refused sign-ins remembered across runs.

After a site refuses the robot's sign-in, no run signs in to it again with the same credential
(``bots.core.store.signins``), so a wrong password cannot lock the account. A changed credential
is tried once on its own; ``clear`` is for when the account was fixed on the site's side (unlocked,
password reset to the same value) and the next run should try again.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Optional

import typer
from rich.table import Table

from bots.cli.app import app, console, err_console, get_settings, open_store, user_errors

signin_app = typer.Typer(help="Sign-ins a site refused: no run tries them again until changed or cleared.",
                         no_args_is_help=True)
app.add_typer(signin_app, name="signin")


@signin_app.command("status")
def signin_status(
    all_: Annotated[bool, typer.Option("--all", help="Also cleared and superseded blocks.")] = False,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The sites whose sign-in is blocked (exit 1 while any is)."""
    from bots.core.times import display_zone, show_time

    with user_errors():
        settings = get_settings()
        zone = display_zone(settings)
        store = open_store(settings)
        blocks = store.signin_blocks(active=not all_)
        active = any(b["cleared_at"] is None for b in blocks)
    if json_out:
        for b in blocks:
            print(json.dumps(b))
    elif not blocks:
        console.print("no sign-in is blocked")
    else:
        table = Table("site", "origin", "bot", "blocked", "run", "runs held", "variables", "cleared", "message")
        for b in blocks:
            cleared = ("" if b["cleared_at"] is None else
                       f"{show_time(b['cleared_at'], zone, seconds=False)} by {b['cleared_by']}")
            table.add_row(b["site"], b["origin"] or "", b["bot"], show_time(b["blocked_at"], zone, seconds=False),
                          b["run_id"] or "", str(b["held_runs"]), b["credential_envs"] or "", cleared,
                          b["message"] or "")
        console.print(table)
    raise typer.Exit(1 if active else 0)


@signin_app.command("clear")
def signin_clear(
    site: Annotated[str, typer.Argument(help="The site as `bots signin status` names it (payer id, billing).")],
    by: Annotated[Optional[str], typer.Option("--by", help="Who cleared it (default: the login name).")] = None,
) -> None:
    """Let the next run sign in to SITE again with the same credential (an audit record names who)."""
    with user_errors():
        settings = get_settings()
        store = open_store(settings)
        cleared = store.clear_signin_block(site, by=by or getpass.getuser())
        if not cleared:
            others = sorted({b["site"] for b in store.signin_blocks()})
            err_console.print(f"[bold red]error:[/] no sign-in to {site} is blocked"
                              + (f" (blocked: {', '.join(others)})" if others else ""), highlight=False)
            raise typer.Exit(1)
    console.print(f"sign-in to {site} cleared: the next run tries it again", highlight=False)
