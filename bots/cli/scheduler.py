"""``bots scheduler start`` and ``bots scheduler jobs``: the unattended service and its schedules."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from bots.cli.app import app, console, get_settings, open_store, user_errors

scheduler_app = typer.Typer(help="Run the bots on their schedules (config/bots.toml).", no_args_is_help=True)
app.add_typer(scheduler_app, name="scheduler")


@scheduler_app.command("start")
def scheduler_start() -> None:
    """Run the schedules in config/bots.toml in the foreground (the systemd service runs this).

    SIGTERM or Ctrl-C lets each running bot finish its current item, records the run as
    interrupted and exits 0. A second scheduler on the same database refuses to start (exit 1).
    """
    import os

    from bots.core.scheduler import build_scheduler
    from bots.core.times import display_zone, show_time

    with user_errors():
        settings = get_settings()
        zone = display_zone(settings)
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
                nxt = show_time(job.next_run_time, zone, seconds=False, empty="never")
                console.print(f"scheduled {job.name}: next run {nxt}", highlight=False)
            console.print(f"scheduler running (pid {os.getpid()}); Ctrl-C or SIGTERM stops after the current item")

        service.run(on_started=started)
    console.print("scheduler stopped")


@scheduler_app.command("jobs")
def scheduler_jobs(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the schedules with their next run times, and whether a scheduler is running."""
    from bots.core.scheduler import list_jobs, scheduler_holder
    from bots.core.times import display_zone, show_time

    with user_errors():
        settings = get_settings()
        zone = display_zone(settings)
        store = open_store(settings)
        jobs = list_jobs(settings, store)
        holder = scheduler_holder(store)
    if json_out:
        print(json.dumps({"scheduler_running": holder is not None, "scheduler": holder,
                          "jobs": [j.as_dict() for j in jobs]}))
        return
    if holder is not None:
        console.print(f"scheduler running on {holder.get('host')} (pid {holder.get('pid')}) "
                      f"since {show_time(holder.get('started'), zone, empty='?')}", highlight=False)
    else:
        console.print("scheduler not running (start it with `bots scheduler start` or the systemd service)")
    table = Table("bot", "schedule", "timezone", "next run", "inbox", "from")
    for j in jobs:
        table.add_row(j.bot, j.schedule, j.timezone,
                      show_time(j.next_run_time, zone, seconds=False, empty="never"),
                      j.inbox or "", j.source)
    console.print(table)
