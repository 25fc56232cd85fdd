"""``pages.detail``: a portal with a page per claim number is asked for it directly (one request per
lookup instead of two), and a claim it has no page for still gets the search's own answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bots.core.errors import ConfigError
from bots.core.settings import Settings
from bots.core.store import Store
from bots.payer_portal.profile import load_profiles
from config_helpers import edit_toml
from mock_portals import MockPortals
from payer_portal.portal_helpers import exception_rows, load_sample, run

pytestmark = pytest.mark.browser

NOT_FOUND = ["CLM-1007"]                     # acme has no such claim
FOUND = ["CLM-1016", "CLM-1025"]             # paid; denied (an exception row with a screenshot)


def _acme_requests(portals: MockPortals, settings: Settings, store: Store, only: list[str]) -> int:
    before = portals.stats["requests"]["acme"]
    run(settings, store, only=only)
    return portals.stats["requests"]["acme"] - before


def _lookup_requests(portals: MockPortals, settings: Settings, store: Store) -> int:
    """Portal requests the FOUND lookups took (two runs, so sign-in and sign-out cancel out)."""
    alone = _acme_requests(portals, settings, store, NOT_FOUND)
    return _acme_requests(portals, settings, store, NOT_FOUND + FOUND) - alone


def _reads(store: Store) -> dict[str, dict]:
    """The last status_read record of each claim."""
    return {r["claim_id"]: r for r in store.audit_records(action="status_read")}


def test_a_claim_detail_link_takes_one_request_and_reads_what_the_search_would(
        settings: Settings, store: Store, env: MockPortals) -> None:
    load_sample(store)
    assert _lookup_requests(env, settings, store) == len(FOUND)
    reads = _reads(store)
    assert {c: reads[c]["result"] for c in FOUND} == {"CLM-1016": "F1", "CLM-1025": "F2"}
    assert all(json.loads(reads[c]["detail"])["page"] == "detail" for c in FOUND)
    # A claim without a page there: the portal's search answers, and that answer is the evidence.
    missing = reads["CLM-1007"]
    assert missing["result"] == "A4" and json.loads(missing["detail"])["page"] == "search"
    assert "No claim found" in Path(missing["evidence_path"]).read_text()
    rows = {r["claim_id"]: r for r in exception_rows(store)}
    assert set(rows) == {"CLM-1007", "CLM-1025"}
    assert all(Path(r["evidence_file"]).read_bytes().startswith(b"\x89PNG") for r in rows.values())


def test_without_a_detail_link_every_lookup_searches_first(settings: Settings, store: Store, env: MockPortals,
                                                           config_dir: Path) -> None:
    edit_toml(config_dir / "payers" / "acme.toml", lambda doc: doc["pages"].pop("detail"))
    load_sample(store)
    assert _lookup_requests(env, settings, store) == 2 * len(FOUND)  # the search's redirect, then the page
    reads = _reads(store)
    assert {c: reads[c]["result"] for c in FOUND + NOT_FOUND} == {"CLM-1016": "F1", "CLM-1025": "F2",
                                                                  "CLM-1007": "A4"}


def test_a_detail_link_must_name_the_claim(config_dir: Path, settings: Settings) -> None:
    edit_toml(config_dir / "payers" / "acme.toml", lambda doc: doc["pages"].update(detail="/claims/{member_id}"))
    with pytest.raises(ConfigError, match="detail"):
        load_profiles(Settings(home=settings.home, config_dir=config_dir, _env_file=None).payers)
