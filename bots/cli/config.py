"""``bots init`` and ``bots config check``: a configuration folder from nothing, and proof that it holds together.

``bots init [DIR]`` copies the default configuration that ships with the package
(``bots.core.settings.packaged_config_dir``) into ``DIR/config`` and writes ``DIR/.env.example``
with the names of every credential variable the payer profiles and billing.toml read, no values.
It never overwrites a file unless ``--force`` is given; without it, existing files are listed
and nothing is written.

``bots config check`` reads every file (bots.toml, each payer profile, the rules, billing.toml,
workbook.toml), then the links between them, and lists every problem at once, each naming the
file, the key and the value: exit 2 with the list, or 0 with one line.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from bots.cli.app import app, console, err_console, state, user_errors
from bots.core.errors import ConfigError
from bots.core.settings import Settings, load_toml, packaged_config_dir, require_config_dir

__all__ = ["check_config", "init_folder"]

config_app = typer.Typer(help="Check the configuration folder.", no_args_is_help=True)
app.add_typer(config_app, name="config")

_HEADER = ("# Written by `bots init` from the defaults shipped with rcm-bots; edit freely.\n"
           "# `bots config check` validates this folder and the links between its files.\n")
_MACHINE_VARS = """\
# rcm-bots machine settings and credentials. Copy to .env (or a service's EnvironmentFile, e.g.
# /etc/rcm-bots/env), mode 0600, and fill in the values. Never commit the filled-in file.

# Machine settings (uncomment to change): runtime data (database, workbook, evidence, logs), the
# configuration folder, PostgreSQL to share the queue across robot machines, the Chromium to use.
# BOTS_HOME=/var/lib/rcm-bots
# BOTS_CONFIG_DIR=/etc/rcm-bots/config
# BOTS_DATABASE_URL=postgresql+psycopg://USER:PASSWORD@HOST/rcmbots
# BOTS_BROWSER_PATH=/usr/bin/chromium
# BOTS_LOG_LEVEL=INFO
"""


# ---- bots init --------------------------------------------------------------------------------

def _env_names(source: Path) -> Iterator[tuple[str, list[str]]]:
    """(site, credential variable names) for each payer profile and billing.toml in ``source``."""
    for path in sorted((source / "payers").glob("*.toml")):
        pid = path.stem.lower()
        names = load_toml(path).get("credentials", {})
        defaults = {f"{k}_env": f"BOTS_PAYER_{pid.upper()}_{k.upper()}" for k in ("url", "username", "password")}
        yield f"payer {pid} ({path.name})", list({**defaults, **names}.values())
    billing = source / "billing.toml"
    if billing.is_file():
        names = load_toml(billing).get("credentials", {})
        defaults = {"url_env": "BOTS_BILLING_URL", "username_env": "BOTS_BILLING_USERNAME",
                    "password_env": "BOTS_BILLING_PASSWORD"}
        yield "billing app (billing.toml)", list({**defaults, **names}.values())


def _env_example(source: Path) -> str:
    parts = [_MACHINE_VARS]
    for site, names in _env_names(source):
        lines = [f"# {name}=   (optional: overrides base_url)\n" if name.endswith("_URL") else f"{name}=\n"
                 for name in names]
        parts.append(f"\n# {site}\n" + "".join(lines))
    return "".join(parts)


def init_folder(target: Path, config_dir: Path, *, force: bool = False) -> list[Path]:
    """Write ``config_dir`` (the packaged defaults) and ``target/.env.example``; the files written.

    Refuses (``ConfigError`` listing them) when any of those files exists, unless ``force``.
    """
    source = packaged_config_dir()
    files = sorted(p.relative_to(source) for p in source.rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".py")
    plan = [(source / rel, config_dir / rel) for rel in files]
    env_file = target / ".env.example"
    existing = [dest for _, dest in plan if dest.exists()] + ([env_file] if env_file.exists() else [])
    if existing and not force:
        shown = ", ".join(str(p) for p in existing[:5]) + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
        raise ConfigError(f"not overwriting {len(existing)} existing file(s): {shown} (--force replaces them)")
    written = []
    for src, dest in plan:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix == ".toml":
            dest.write_text(_HEADER + src.read_text(encoding="utf-8"), encoding="utf-8")
        else:
            shutil.copyfile(src, dest)
        written.append(dest)
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text(_env_example(source), encoding="utf-8")
    written.append(env_file)
    return written


@app.command("init")
def init(
    folder: Annotated[Optional[Path], typer.Argument(
        help="Folder to set up: writes FOLDER/config and FOLDER/.env.example (default: the current "
             "folder, or --config-dir for the configuration).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace files that already exist.")] = False,
) -> None:
    """Write a commented configuration folder and a .env.example (credential names, no values)."""
    target = folder if folder is not None else Path(".")
    config_dir = target / "config" if folder is not None or state.config_dir is None else state.config_dir
    with user_errors():
        written = init_folder(target, config_dir, force=force)
    console.print(f"wrote {len(written) - 1} files to {config_dir} and {target / '.env.example'}", highlight=False)
    console.print("next: fill in the credentials (copy .env.example to .env, mode 0600), then `bots config check`",
                  highlight=False)


# ---- bots config check ------------------------------------------------------------------------

_PROBLEM_START = re.compile(r"; (?=\S[^;]*?: )")


def _split(exc: ConfigError) -> list[str]:
    """One ConfigError may carry several problems joined by '; ' (``validate_model``): one line each."""
    return [p for p in _PROBLEM_START.split(str(exc)) if p]


class _Problems(list[str]):
    def check(self, step: Callable[[], Any]) -> Any:
        """Run ``step``; a ConfigError (or a ValueError from a parser) becomes problems, not a stop."""
        try:
            return step()
        except ConfigError as exc:
            self.extend(_split(exc))
        except (ValueError, OSError) as exc:
            self.append(str(exc))
        return None


def _walk(data: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _walk(value, (*path, str(i)))
    else:
        yield ".".join(path), data


def check_config(settings: Settings) -> list[str]:
    """Every problem in the configuration folder of ``settings``, each naming its file, key and value."""
    from bots.core import registry
    from bots.core.scheduler.cron import bot_trigger
    from bots.core.settings import load_toml_model
    from bots.core.workbook.layout import load_layout

    problems = _Problems()
    cdir = settings.config_dir
    try:
        require_config_dir(cdir)
    except ConfigError as exc:
        return [str(exc)]
    installed = set(registry.names())
    bots_cfg = problems.check(lambda: settings.config)
    if bots_cfg is not None:
        for bot in registry.names():
            cfg = bots_cfg.bot(bot)
            if cfg.schedule:  # unknown bot names are refused by the model itself (``BotsConfig``)
                problems.check(lambda bot=bot: bot_trigger(settings, bot))

    # Payer profiles: the fields every bot reads, then each whole file as a portal profile.
    payer_files = sorted((cdir / "payers").glob("*.toml"))
    payer_ids = {p.stem.lower() for p in payer_files}
    good_payers = []
    for path in payer_files:
        if problems.check(lambda path=path: _payer_file(path)) is not None:
            good_payers.append(path)
    portal_rules = None
    if "payer_portal" in installed:
        from bots.payer_portal.profile import PayerProfile
        from bots.payer_portal.rules import RULES_FILE as PORTAL_RULES
        from bots.payer_portal.rules import load_rules as load_portal_rules

        if not payer_files:
            problems.append(f"{cdir / 'payers'}: no payer profiles (one <payer_id>.toml per payer)")
        portal_rules = problems.check(lambda: load_portal_rules(cdir))
        for path in good_payers:
            profile = problems.check(lambda path=path: load_toml_model(path, PayerProfile))
            if profile is not None and portal_rules is not None:
                for word, category in profile.status_map.items():
                    if portal_rules.route_for(category) is None:
                        problems.append(f"{path}: key 'status_map.{word}': category {category!r} has no route in "
                                        f"{cdir / PORTAL_RULES}")
    if "claim_edits" in installed:
        from bots.claim_edits.config import RULES_FILE as EDITS_RULES
        from bots.claim_edits.config import load_rules as load_edit_rules

        problems.check(lambda: load_edit_rules(cdir / EDITS_RULES))

    # Payers the rules name (a key payer/payers/payer_id/payer_ids anywhere) must have a profile.
    for path in sorted((cdir / "rules").glob("*.toml")):
        data = problems.check(lambda path=path: load_toml(path)) or {}
        for key, value in _walk(data):
            leaf = re.sub(r"\.\d+$", "", key).rsplit(".", 1)[-1]
            if leaf in {"payer", "payers", "payer_id", "payer_ids"} and str(value).lower() not in payer_ids:
                problems.append(f"{path}: key '{key}': no payer profile {cdir / 'payers' / f'{value}.toml'} "
                                f"(value: {value!r})")

    # Worklist profiles: every file, and the inbox_profile each bot names.
    from bots.core.worklist_profiles import PROFILE_DIR, load_profile, profile_names

    for name in profile_names(cdir):
        problems.check(lambda name=name: load_profile(cdir, name))
    if bots_cfg is not None:
        for bot, cfg in bots_cfg.bots.items():
            if cfg.inbox_profile and cfg.inbox_profile not in {"default", *profile_names(cdir)}:
                problems.append(f"{cdir / 'bots.toml'}: key 'bots.{bot}.inbox_profile': no worklist profile "
                                f"{cdir / PROFILE_DIR / f'{cfg.inbox_profile}.toml'} (value: {cfg.inbox_profile!r})")

    layout = problems.check(lambda: load_layout(settings))  # optional: absent means the built-in lists
    from bots.core.team import load_team

    problems.check(lambda: load_team(settings))  # optional: absent means no roster controls
    from bots.core.quality import load_quality

    problems.check(lambda: load_quality(settings))  # optional: absent means no quality sampling
    from bots.core.appeals import load_appeals

    problems.check(lambda: load_appeals(settings))  # optional: absent means no Appeal Preparation rows
    if "status_sync" in installed:
        from bots.status_sync.config import BILLING_FILE, load_billing_config

        problems.check(lambda: load_billing_config(settings))
        # The links are checked on the documents as written, so a bad value elsewhere in billing.toml
        # does not hide a resolution that lost its billing status.
        raw = problems.check(lambda: load_toml(cdir / BILLING_FILE)) or {}
        mapped, unchanged = raw.get("resolutions"), raw.get("no_billing_change", [])
        if layout is not None and isinstance(mapped, dict) and isinstance(unchanged, list):
            problems.extend(_resolution_links(cdir / "workbook.toml", layout.billing_choices(), cdir / BILLING_FILE,
                                              mapped, unchanged))
    return list(dict.fromkeys(problems))  # a file that fails two checks the same way says so once


def _payer_file(path: Path) -> Any:
    """One payer file's shared fields, checked as ``bots.core.payers.load_payers`` checks each file."""
    from bots.core.payers import PayerCommon
    from bots.core.settings import load_toml_model

    raw = load_toml(path)
    if "id" in raw:
        raise ConfigError(f"{path}: key 'id': the payer id is the file name ({path.stem.lower()}); remove the key")
    return load_toml_model(path, PayerCommon, data=raw)


def _resolution_links(workbook: Path, offered: dict[str, list[str]], billing: Path, mapped: dict[str, str],
                      unchanged: list[str]) -> list[str]:
    """Each resolution coders may pick needs a billing status (or no_billing_change), and back."""
    problems = []
    known = set(mapped) | set(unchanged)
    for queue, choices in offered.items():
        for choice in choices:
            if choice not in known:
                problems.append(f"{workbook}: key 'resolutions.{queue}': {choice!r} has no billing status in "
                                f"{billing} [resolutions] or no_billing_change (value: {choice!r})")
    all_offered = {c for choices in offered.values() for c in choices}
    for key, names in (("resolutions", list(mapped)), ("no_billing_change", list(unchanged))):
        for name in names:
            if name not in all_offered:
                problems.append(f"{billing}: key '{key}.{name}' names a resolution no queue in {workbook} offers "
                                f"(value: {name!r})")
    return problems


@config_app.command("check")
def config_check() -> None:
    """Validate every configuration file and the links between them; list every problem (exit 2) or say OK."""
    kwargs: dict[str, Any] = {"config_dir": state.config_dir} if state.config_dir is not None else {}
    if state.home is not None:
        kwargs["home"] = state.home
    with user_errors():
        try:
            settings = Settings(**kwargs)
        except Exception as exc:  # pydantic-settings validation of BOTS_* variables
            raise ConfigError(f"invalid setting: {exc}") from None
        problems = check_config(settings)
    if problems:
        err_console.print(f"[bold red]{len(problems)} problem(s)[/] in {settings.config_dir}:", highlight=False)
        for p in problems:
            err_console.print(f"  - {p}", highlight=False, markup=False)
        raise typer.Exit(2)
    console.print(f"OK: {settings.config_dir.resolve()} (bots.toml, {len(list((settings.config_dir / 'payers').glob('*.toml')))}"
                  " payer profiles, rules, billing.toml, workbook.toml and the links between them)", highlight=False)
