"""Profiles, routing rules and claim selection, without a browser."""

from __future__ import annotations

import copy
import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bots.core.errors import ConfigError
from bots.core.logging import scrub_phi
from bots.core.runner import RunContext
from bots.core.settings import Settings
from config_helpers import edit_toml, read_toml, write_toml
from bots.core.store import ClaimStatusRead, ItemState, ItemStateChange, Store
from store_helpers import set_columns
from bots.payer_portal import create_bot
from bots.payer_portal.claim_status import parse_carc, parse_date, parse_money
from bots.payer_portal.profile import load_profiles, payer_environment, resolve_credentials
from bots.payer_portal.rules import load_rules
from mock_portals import SAMPLE_DATA
from payer_portal.portal_helpers import BOT, edit_profile, items, load_sample

REPO = Path(__file__).resolve().parents[2]


def test_every_sample_status_word_maps_to_a_category_that_routes_like_the_samples_hint() -> None:
    profiles = load_profiles(REPO / "config" / "payers")
    rules = load_rules(REPO / "config")
    data = json.loads(SAMPLE_DATA.read_text())
    for payer in ("acme", "beacon"):
        for claim in data["payers"][payer]["claims"]:
            category = profiles[payer].category_for(claim["status"])
            hint = claim["expected_status_category"]
            if hint is None:
                assert category is None, claim["status"]  # the sample's deliberately unknown word
            else:  # beacon's one word REJECTED is A3 here; the hints say A6/A7: the same route
                assert rules.route_for(category)[0] == rules.route_for(hint)[0], claim["status"]
    assert profiles["acme"].prior_auth_codes and "73721" in profiles["beacon"].prior_auth_codes


def test_a_bad_profile_value_names_the_file_and_the_key(config_dir: Path) -> None:
    profile = config_dir / "payers" / "acme.toml"
    shipped = read_toml(profile)
    edit_toml(profile, lambda doc: doc["status_map"].update(Denied="Z9"))
    with pytest.raises(ConfigError, match=r"acme\.toml: key 'status_map'.*Z9"):
        load_profiles(config_dir / "payers")
    write_toml(profile, shipped)
    edit_profile(config_dir, "beacon", {"search_flow": '"sideways"'})
    with pytest.raises(ConfigError, match=r"beacon\.toml: key 'search_flow'"):
        load_profiles(config_dir / "payers")


def test_routing_rules_must_route_every_design_category_once(config_dir: Path) -> None:
    path = config_dir / "rules" / "payer_portal.toml"
    shipped = read_toml(path)

    def with_route(route: str, **values: object) -> None:
        data = copy.deepcopy(shipped)
        data["routes"][route].update(values)
        write_toml(path, data)

    with_route("PORTAL-DENIED", categories=["F1"])  # F1 is PORTAL-PAID's
    with pytest.raises(ConfigError, match="already routed"):
        load_rules(config_dir)
    with_route("PORTAL-PAYER-ERROR", categories=["E0"])
    with pytest.raises(ConfigError, match="categories without a route: E1, E2, E3, E4"):
        load_rules(config_dir)
    with_route("PORTAL-PAID", billing_status="Settled")
    with pytest.raises(ConfigError, match="not one of billing_statuses"):
        load_rules(config_dir)


def test_a_word_mapped_to_an_unrouted_category_stops_the_run_before_any_lookup(
        settings: Settings, store: Store, config_dir: Path) -> None:
    profile = config_dir / "payers" / "acme.toml"
    edit_toml(profile, lambda doc: doc["status_map"].update(Forwarded="A0"))
    run = RunContext(settings, store, BOT, "run-x", None, threading.Event(), {})
    with pytest.raises(ConfigError, match=r"acme\.toml: key 'status_map\.Forwarded': category A0 has no route"):
        with create_bot(settings).session(run):
            pass


def test_a_maintenance_window_may_cross_midnight_and_ends_in_utc() -> None:
    beacon = load_profiles(REPO / "config" / "payers")["beacon"]  # Saturday 22:00-02:00 New York
    sunday_1am_ny = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    assert beacon.maintenance_end(sunday_1am_ny) == datetime(2026, 11, 29, 7, 0)
    assert beacon.maintenance_end(sunday_1am_ny + timedelta(hours=2)) is None
    assert beacon.maintenance_end(datetime(2026, 11, 28, 12, 0, tzinfo=UTC)) is None


def test_payment_variance_needs_both_tolerances_exceeded() -> None:
    v = load_rules(REPO / "config").variance  # $5.00 and 2%
    assert not v.exceeded(-4.99, 1000.0)      # under $5
    assert not v.exceeded(-15.0, 1000.0)      # over $5 but 1.5%
    assert v.exceeded(-25.0, 1000.0) and v.exceeded(6.0, 100.0)  # over both, either direction


def test_portal_values_parse_into_amounts_dates_and_reason_codes() -> None:
    assert parse_money("$1,234.50") == Decimal("1234.50") and parse_money("") is None
    assert parse_money("($12.00)") == Decimal("-12.00")
    with pytest.raises(ValueError):
        parse_money("DOE, JANE")
    assert parse_date("10/14/2026", "%m/%d/%Y").isoformat() == "2026-10-14" and parse_date(" ", "%Y") is None
    pattern = load_profiles(REPO / "config" / "payers")["acme"].carc.pattern
    assert parse_carc("co-45", "Contractual.", pattern).model_dump() == {
        "code": "CO-45", "group": "CO", "reason": "45", "text": "Contractual."}
    assert parse_carc("MA130", "", pattern).group is None


def test_credentials_come_from_the_environment_and_never_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    acme = load_profiles(REPO / "config" / "payers")["acme"]
    (tmp_path / ".env").write_text("BOTS_PAYER_ACME_PASSWORD=from-dotenv-file\nBOTS_PAYER_ACME_USERNAME=dotenv\n")
    monkeypatch.setenv("BOTS_PAYER_ACME_USERNAME", "robot-env")
    monkeypatch.setenv("BOTS_PAYER_ACME_URL", "http://portal.example:8080/acme/")
    creds = resolve_credentials(acme, payer_environment(tmp_path / ".env"))
    assert creds.base_url == "http://portal.example:8080/acme"
    assert creds.username.get_secret_value() == "robot-env"  # the environment wins over .env
    assert creds.password.get_secret_value() == "from-dotenv-file" and creds.totp_secret is None
    assert "from-dotenv-file" not in repr(creds)
    scrubbed = scrub_phi(None, "info", {"event": "x", "error": "login with from-dotenv-file failed"})
    assert "from-dotenv-file" not in json.dumps(scrubbed)


def test_claims_are_selected_oldest_first_by_age_and_last_check_and_due_ones_reopen(
        settings: Settings, store: Store, config_dir: Path) -> None:
    load_sample(store)
    bot = create_bot(settings)

    def enqueue(only: list[str] | None = None) -> int:
        return bot.enqueue(RunContext(settings, store, BOT, "run-e", only, threading.Event(), {}))

    now = datetime.now(UTC).replace(tzinfo=None)
    set_columns(store, "claims", {"claim_id": "CLM-1001"},  # checked yesterday
                status_checked_at=(now - timedelta(days=1)).isoformat(timespec="seconds"))
    set_columns(store, "claims", {"claim_id": "CLM-1002"}, final=True)
    set_columns(store, "claims", {"claim_id": "CLM-1003"},  # submitted 3 days ago
                submitted_date=(now - timedelta(days=3)).date().isoformat())
    assert enqueue() == 62  # 65 submitted, less: recently checked, final, too new
    queued = items(store)
    assert not {"acme:CLM-1001", "acme:CLM-1002", "acme:CLM-1003"} & set(queued)
    assert not any(r.startswith("acme:CLM-106") or r == "acme:CLM-1075" for r in queued)  # unsubmitted
    # oldest submission first: the sort key is the submitted date
    submitted = {r["claim_key"]: r["submitted_date"] for r in store.claim_rows()}
    assert all(i["sort_key"] == submitted[ref] for ref, i in queued.items())
    # Named claims are looked up now whatever their age; final ones never.
    assert enqueue(["acme:CLM-1001", "acme:CLM-1002", "acme:CLM-1003"]) == 2
    # A finished item is reopened when its claim is due again; a failed one waits for a person.
    set_columns(store, "work_items", {"reference": "acme:CLM-1004"}, state=ItemState.DONE)
    set_columns(store, "work_items", {"reference": "acme:CLM-1005"}, state=ItemState.FAILED)
    assert enqueue() == 1
    after = items(store)
    assert after["acme:CLM-1004"]["state"] == "new" and after["acme:CLM-1004"]["cycles"] == 2
    assert after["acme:CLM-1005"]["state"] == "failed"


def test_an_item_another_robot_finishes_while_this_one_enqueues_is_not_reopened(
        settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two robots on one queue: robot B reads the due claims while robot A still holds one of them;
    A then finishes it (status read, item done) before B reopens the finished ones. B must leave it
    done: the claim was just looked up, and a reopen would look it up twice (seen in the pipeline
    bench with two robots on PostgreSQL). An item nobody touched is reopened as before."""
    load_sample(store)
    bot = create_bot(settings)

    def enqueue(run_id: str) -> int:
        return bot.enqueue(RunContext(settings, store, BOT, run_id, None, threading.Event(), {}))

    enqueue("run-a")
    held = store.claim_items(BOT, "run-a", limit=1, lease_seconds=600)[0]
    set_columns(store, "work_items", {"reference": "acme:CLM-1004"}, state=ItemState.DONE)  # due again, idle
    read_due = store.claims_due_for_status

    def robot_a_finishes_meanwhile(**kw):  # type: ignore[no-untyped-def]
        rows = read_due(**kw)  # B's read: A's claim is still due
        with store.begin() as conn:
            store.set_item_states(conn, [ItemStateChange(held, ItemState.DONE)])
            store.apply_intents(conn, [ClaimStatusRead(held.claim_key, "P1", "In Process",
                                                       datetime.now(UTC).isoformat(timespec="seconds"), False)])
        return rows

    monkeypatch.setattr(store, "claims_due_for_status", robot_a_finishes_meanwhile)
    assert enqueue("run-b") == 1
    after = items(store)
    assert after[held.reference]["state"] == "done" and after[held.reference]["cycles"] == 1
    assert after["acme:CLM-1004"]["state"] == "new" and after["acme:CLM-1004"]["cycles"] == 2
