"""The root of the ``bots`` command: the typer app, its options, and what every command shares.

Every command module (``run``, ``history``, ``scheduler``, ``workbook``, ``demo``, ``config``,
``metrics``, ``signin``, ``report``; imported by ``bots/cli/__init__.py``) registers
on the ``app`` defined here and uses these helpers: ``get_settings`` (the ``--home`` and
``--config-dir`` choices, validated at once), ``open_store``, ``user_errors`` (exit codes)
and the consoles. Heavy modules (the store, the runner, the bots) are imported inside the
commands, so ``bots --help`` stays fast.

Exit codes: 0 success (routed exceptions are a success), 1 the run failed,
2 bad usage or bad input.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape  # messages quote TOML tables and extras: [mock], [bots.claim_edits]

from bots.core.errors import BotError, ConfigError, InputError
from bots.core.logging import configure_logging
from bots.core.settings import Settings

__all__ = ["app", "console", "create_bot", "err_console", "get_settings", "known_payers", "open_store",
           "user_errors"]

# -h is --help at every level (click contexts inherit help_option_names). Plain help: typer's rich
# help prints a type after every option, so a flag such as --json read as "--json <bool>".
app = typer.Typer(help="rcm-bots: revenue-cycle bots with an exception workbook and an audit trail.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None, context_settings={"help_option_names": ["-h", "--help"]})

# Piped into a file or a ticket, tables keep every column instead of rich's 80-column default.
_PIPE_WIDTH = None if sys.stdout.isatty() else 200
console = Console(soft_wrap=True, width=_PIPE_WIDTH)
err_console = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 200)


class _State:
    config_dir: Path | None = None
    home: Path | None = None


state = _State()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"rcm-bots {version('rcm-bots')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            print("rcm-bots (not installed)")
        raise typer.Exit(0)


@app.callback()
def main(
    config_dir: Annotated[Optional[Path], typer.Option("--config-dir", envvar="BOTS_CONFIG_DIR",
                                                       help="Configuration folder (default ./config).")] = None,
    home: Annotated[Optional[Path], typer.Option("--home", envvar="BOTS_HOME",
                                                 help="Runtime data folder (default ./var).")] = None,
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version,
                                          help="Print the installed version and exit.")] = False,
) -> None:
    state.config_dir = config_dir
    state.home = home


def get_settings(*, read_only: bool = False) -> Settings:
    """Settings from the global options and the environment, config validated now.

    ``read_only`` (``bots health``): no folder, log file or database is created; logs go to stderr
    only, so stdout stays the report."""
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
    if read_only:
        configure_logging(None, settings.log_level)
        return settings
    settings.ensure_dirs()
    configure_logging(settings.logs_dir, settings.log_level)
    return settings


def open_store(settings: Settings):  # noqa: ANN201 - Store, imported lazily for a fast --help
    from bots.core.store import open_store as _open

    return _open(settings)


def create_bot(name: str, settings: Settings) -> Any:
    """A bot from the registry (``bots.core.registry``); an unknown name is a ConfigError listing the installed ones."""
    from bots.core import registry

    return registry.create(name, settings)


def known_payers(settings: Settings) -> set[str] | None:
    """Payer ids a worklist may name (``config/payers``, read once per Settings); None accepts any."""
    return settings.payers.known_ids()


@contextmanager
def user_errors() -> Iterator[None]:
    """Bad input and bad config exit 2 with one clear line, not a traceback."""
    try:
        yield
    except (InputError, ConfigError) as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    except BotError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None

