"""The audit trail is a hash chain: any edit or deletion is found and named."""

from __future__ import annotations

import sqlite3

from typer.testing import CliRunner

from bots.cli import app
from bots.core.settings import Settings
from bots.core.store import AuditEntry, Store

runner = CliRunner()


def _fill(store: Store, n: int = 10) -> None:
    store.audit([AuditEntry(action="rule_evaluated", result="pass" if i % 2 else "fail", run_id="r1",
                            bot="claim_edits", item_ref=f"acme:CLM-{i}", claim_id=f"CLM-{i}",
                            rule_id="DOC-SIGNED", rule_version="1", input_digest="ab" * 32)
                 for i in range(n)])


def _verify(settings: Settings):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                               "audit", "verify"])


def test_intact_chain_verifies(settings: Settings, store: Store) -> None:
    _fill(store)
    result = _verify(settings)
    assert result.exit_code == 0, result.output
    assert "intact" in result.output


def test_edited_record_fails_verify_and_is_named(settings: Settings, store: Store) -> None:
    _fill(store)
    with sqlite3.connect(settings.home / "bots.db") as c:
        c.execute("update audit set result='tampered' where seq=4")
    result = _verify(settings)
    assert result.exit_code == 1
    assert "record 4" in result.output and "edited" in result.output


def test_deleted_record_fails_verify_and_is_named(settings: Settings, store: Store) -> None:
    _fill(store)
    with sqlite3.connect(settings.home / "bots.db") as c:
        c.execute("delete from audit where seq=6")
    result = _verify(settings)
    assert result.exit_code == 1
    assert "record 6 deleted" in result.output


def test_deleted_last_record_is_found(settings: Settings, store: Store) -> None:
    _fill(store)
    with sqlite3.connect(settings.home / "bots.db") as c:
        c.execute("delete from audit where seq=10")
    result = _verify(settings)
    assert result.exit_code == 1
    assert "record 10" in result.output


def test_rewritten_chain_tail_is_found_by_the_head(settings: Settings, store: Store) -> None:
    """Recomputing hashes after an edit still breaks the link to the stored chain head."""
    from bots.core.store import audit_hash

    _fill(store)
    with sqlite3.connect(settings.home / "bots.db") as c:
        c.row_factory = sqlite3.Row
        row = dict(c.execute("select * from audit where seq=10").fetchone())
        row["result"] = "tampered"
        new_hash = audit_hash(row["prev_hash"], row)
        c.execute("update audit set result='tampered', hash=? where seq=10", (new_hash,))
    result = _verify(settings)
    assert result.exit_code == 1


def test_audit_show_prints_a_claims_trail(settings: Settings, store: Store) -> None:
    _fill(store)
    result = runner.invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                                 "audit", "show", "CLM-3"])
    assert result.exit_code == 0, result.output
    assert "DOC-SIGNED" in result.output and "pass" in result.output
    missing = runner.invoke(app, ["--home", str(settings.home), "audit", "show", "CLM-404"])
    assert missing.exit_code == 1
