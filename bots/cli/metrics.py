"""``bots metrics`` and ``bots alerts …``: what IT's monitoring reads and what it is sent.

``bots metrics --textfile DIR`` writes ``DIR/rcm_bots.prom`` for node_exporter's textfile
collector (atomically); ``bots metrics --serve PORT`` serves the same numbers on 127.0.0.1
until Ctrl-C. ``bots alerts test`` sends a test message to the configured destinations;
``bots alerts check`` sends what is new (failed, crashed, missed, degraded runs; health
turning not OK), once per incident, for a cron job where the scheduler does not run.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Optional

import typer

from bots.cli.app import app, console, err_console, get_settings, open_store, user_errors

alerts_app = typer.Typer(help="Send alerts (apprise URLs from [alerts] urls and BOTS_ALERT_URLS).",
                         no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@app.command()
def metrics(
    textfile: Annotated[Optional[Path], typer.Option(
        help="Write DIR/rcm_bots.prom for node_exporter's textfile collector.", metavar="DIR")] = None,
    serve: Annotated[Optional[int], typer.Option(
        help="Serve /metrics on 127.0.0.1:PORT until Ctrl-C.", metavar="PORT", min=0, max=65535)] = None,
) -> None:
    """Prometheus metrics from the run history and the exception rows (no PHI in any label)."""
    from bots.core import metrics as m

    if (textfile is None) == (serve is None):
        err_console.print("[bold red]error:[/] give exactly one of --textfile DIR or --serve PORT", highlight=False)
        raise typer.Exit(2)
    with user_errors():
        settings = get_settings()
        store = open_store(settings)
    if textfile is not None:
        path = m.write_textfile(m.textfile_path(settings, textfile), store)
        console.print(f"wrote {path}", highlight=False)
        return
    server = m.serve(store, serve or 0)
    console.print(f"serving metrics on http://127.0.0.1:{server.server_port}/metrics (Ctrl-C stops)",
                  highlight=False)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        store.close()


@alerts_app.command("test")
def alerts_test() -> None:
    """Send a test message to every configured destination; exit 1 if none accepted it."""
    from bots.core import alerts

    with user_errors():
        settings = get_settings()
    if not alerts.alert_urls(settings):
        err_console.print("[bold red]error:[/] no alert URLs: set \\[alerts] urls in bots.toml or BOTS_ALERT_URLS",
                          highlight=False)
        raise typer.Exit(1)
    if not alerts.send(settings, "rcm-bots: test alert", ["a test message from `bots alerts test`"]):
        err_console.print("[bold red]error:[/] no destination accepted the alert (see logs/bots.jsonl)",
                          highlight=False)
        raise typer.Exit(1)
    console.print("test alert sent")


@alerts_app.command("check")
def alerts_check() -> None:
    """Send what is new since the last check (runs to alert on, a change of health), once each."""
    from bots.core import alerts

    with user_errors():
        settings = get_settings()
        sent = alerts.check(settings, open_store(settings))
    for line in sent:
        console.print(line, highlight=False, markup=False)
    if not sent:
        console.print("nothing new to alert on")
