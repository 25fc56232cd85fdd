"""config/billing.toml: validated with errors that name file and key, and a billing status for
every Resolution a coder can choose; the items and notes status_sync builds from it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config_helpers import edit_toml
from bots.core.errors import ConfigError
from bots.core.settings import Settings
from bots.core.workbook.layout import load_layout
from bots.status_sync.config import load_billing_config, resolve_credentials
from bots.status_sync.updates import BadItem, Update, resolution_item
from mock_portals import BILLING_STATUSES, SELECTORS
from status_sync.sync_helpers import V2_SELECTORS


def test_every_resolution_a_coder_can_choose_maps_to_a_status_billing_offers(settings: Settings) -> None:
    config = load_billing_config(settings)
    assert config.unmapped(load_layout(settings).billing_choices()) == []
    assert set(config.resolutions.values()) <= set(BILLING_STATUSES)
    assert config.status_for("Corrected claim") == "Ready to rebill"
    assert config.status_for("Appeal") == "Appeal in progress"
    assert config.status_for("Write-off") == "Write-off review"


def test_shipped_and_v2_selectors_are_the_mock_billing_apps_readme_table(settings: Settings) -> None:
    sel = load_billing_config(settings).selectors
    shipped = {f"{page}.{key}": value for page in ("login", "nav", "edit")
               for key, value in getattr(sel, page).model_dump(exclude_none=True).items()}
    v2, section = {}, ""
    for line in V2_SELECTORS.strip().splitlines():
        if line.startswith("["):
            section = line.strip("[]").split(".")[1]
        elif "=" in line:
            key, value = (p.strip() for p in line.split("=", 1))
            v2[f"{section}.{key}"] = value.strip('"')
    table = SELECTORS["billing"]
    for name, value in shipped.items():
        if name in table:
            assert table[name] == (value, v2[name]), name
    assert shipped["edit.status_option"] == "#status-select option" and v2["edit.status_option"] == "#new-status option"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda doc: doc.update(base_url="billing.local"), "key 'base_url': expected an http(s) URL"),
    (lambda doc: doc["pages"].update(edit="/claims/{id}"), "key 'pages.edit'"),
    (lambda doc: doc["resolutions"].update({"Void claim": ""}), "key 'resolutions'"),
    (lambda doc: doc["no_billing_change"].insert(0, "Appeal"), "'Appeal' is both"),
    (lambda doc: doc["selectors"]["edit"].pop("current_status"), "key 'selectors.edit.current_status': Field required"),
    (lambda doc: doc.update(mode="fast"), "key 'mode': Input should be 'request' or 'ui'"),
    (lambda doc: doc.update(request_concurrency=0), "key 'request_concurrency'"),
], ids=["base_url", "pages.edit", "resolutions", "no_billing_change", "selectors", "mode", "request_concurrency"])
def test_a_bad_billing_config_names_the_file_and_the_key(settings: Settings, config_dir: Path,
                                                        edit: Callable[[dict[str, Any]], Any], message: str) -> None:
    path = config_dir / "billing.toml"
    edit_toml(path, edit)
    with pytest.raises(ConfigError) as err:
        load_billing_config(settings)
    assert str(path) in str(err.value) and message in str(err.value)


def test_the_form_is_posted_at_request_level_unless_the_config_says_ui(settings: Settings, config_dir: Path) -> None:
    config = load_billing_config(settings)
    assert config.mode == "request" and config.contexts == config.request_concurrency
    edit_toml(config_dir / "billing.toml", lambda doc: doc.pop("mode"))
    assert load_billing_config(settings).mode == "request"  # the default
    edit_toml(config_dir / "billing.toml", lambda doc: doc.update(mode="ui"))
    ui = load_billing_config(settings)
    assert ui.mode == "ui" and ui.contexts == ui.concurrency


def test_credentials_come_from_the_environment_and_the_url_can_be_overridden(settings: Settings) -> None:
    config = load_billing_config(settings)
    creds = resolve_credentials(config, {"BOTS_BILLING_URL": "http://billing.example:9000/wq/",
                                         "BOTS_BILLING_USERNAME": "robot", "BOTS_BILLING_PASSWORD": "s3cret-pw"})
    assert creds.base_url == "http://billing.example:9000/wq" and creds.password is not None
    assert "s3cret-pw" not in repr(creds)
    assert resolve_credentials(config, {}).base_url == config.base_url and resolve_credentials(config, {}).password is None
    with pytest.raises(ConfigError, match="BOTS_BILLING_URL"):
        resolve_credentials(config, {"BOTS_BILLING_URL": "ftp://x"})


def test_a_resolution_item_is_digested_on_resolution_note_and_mapping(settings: Settings) -> None:
    config = load_billing_config(settings)
    row = {"exception_id": "EX-0000000000AA", "claim_id": "CLM-1001", "payer_id": "acme", "queue": "Denials",
           "resolution": "Appeal", "resolution_note": "records attached", "resolved_by": "jlee",
           "coder_updated_at": "2026-11-05T14:00:00.000000"}
    spec = resolution_item(row, config)
    assert spec.reference == "resolution:EX-0000000000AA" and spec.claim_key == "acme:CLM-1001"
    assert re.fullmatch(r"\d{20}", spec.sort_key)
    assert resolution_item({**row, "resolution_note": "records attached again"}, config).digest != spec.digest
    assert resolution_item({**row, "resolved_by": "mpatel"}, config).digest == spec.digest
    item = Update.from_item(spec.reference, spec.payload, config)
    assert item.status == "Appeal in progress" and item.queue == "Denials"
    assert item.note == 'rcm-bots: coder resolution "Appeal" by jlee for EX-0000000000AA; note: records attached'


def test_a_long_note_is_cut_and_a_malformed_item_is_refused(settings: Settings) -> None:
    config = load_billing_config(settings)
    payload = {"claim_id": "CLM-1001", "payer_id": "acme", "status": "Paid", "note": "x" * 5000,
               "source_bot": "payer_portal", "source_run": "r1"}
    note = Update.from_item("acme:CLM-1001|Paid|", payload, config).note
    assert len(note) == config.note_max_length and note.endswith("…")
    with pytest.raises(BadItem, match="status"):
        Update.from_item("acme:CLM-1001|Paid|", {k: v for k, v in payload.items() if k != "status"}, config)
