"""The audit trail is a hash chain: any edit or deletion is found and named."""

from __future__ import annotations

import sqlite3

from typer.testing import CliRunner

from bots.cli import app
from bots.core.settings import Settings
from bots.core.store import AuditEntry, Store, audit_hash

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


# ---- keyed chain and checkpoints (issue 12 item 6): tamper evidence against database write access ----

import hashlib  # noqa: E402
import json  # noqa: E402

import stat  # noqa: E402

import pytest  # noqa: E402

from bots.core.audit_keys import AuditKeys  # noqa: E402
from canaries import CANARY_MEMBER, CANARY_NAME  # noqa: E402


@pytest.fixture
def keyed(settings: Settings, store: Store) -> Store:
    store.audit_keys = AuditKeys.from_settings(settings)
    return store


def _problems(store: Store) -> str:
    return "\n".join(store.verify_audit())


def test_keyed_chain_files_are_private_and_verify(settings: Settings, keyed: Store) -> None:
    _fill(keyed)
    _fill(keyed, 3)
    key, cps = settings.home / "keys" / "audit.key", settings.home / "audit-checkpoints.jsonl"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(cps.stat().st_mode) == 0o600
    lines = [json.loads(ln) for ln in cps.read_text().splitlines()]
    assert [c["seq"] for c in lines] == [10, 13]  # one signed line per committed batch
    assert set(lines[0]) == {"seq", "hash", "ts", "kid", "mac"}
    with sqlite3.connect(settings.home / "bots.db") as c:
        assert {r[0] for r in c.execute("select key_id from audit")} == {lines[0]["kid"]}
    assert keyed.verify_audit() == []
    assert _verify(settings).exit_code == 0


def test_tail_cut_with_head_updated_is_found_by_the_checkpoint(settings: Settings, keyed: Store) -> None:
    _fill(keyed)
    with sqlite3.connect(settings.home / "bots.db") as c:  # the two statements an attacker needs
        c.execute("delete from audit where seq > 7")
        h = c.execute("select hash from audit where seq = 7").fetchone()[0]
        c.execute("update audit_head set seq = 7, hash = ?", (h,))
    assert "records 8 to 10 were cut from the end" in _problems(keyed)
    result = _verify(settings)
    assert result.exit_code == 1 and "cut from the end" in result.output


def test_edit_with_chain_recomputed_without_the_key_is_found(settings: Settings, keyed: Store) -> None:
    _fill(keyed)
    with sqlite3.connect(settings.home / "bots.db") as c:
        c.row_factory = sqlite3.Row
        rows = [dict(r) for r in c.execute("select * from audit order by seq")]
        rows[3]["result"] = "tampered"
        prev = rows[3]["prev_hash"]
        for r in rows[3:]:  # the attacker's best guess: the unkeyed sha256 chain
            r["prev_hash"], r["hash"] = prev, audit_hash(prev, r)
            c.execute("update audit set result=?, prev_hash=?, hash=? where seq=?",
                      (r["result"], r["prev_hash"], r["hash"], r["seq"]))
            prev = r["hash"]
        c.execute("update audit_head set hash=?", (prev,))
    problems = _problems(keyed)
    assert "record 4 (" in problems and "signature (HMAC" in problems
    assert "checkpoint line 1" in problems and "does not match the chain" in problems


def test_stripping_key_ids_is_a_downgrade_and_is_found(settings: Settings, keyed: Store) -> None:
    _fill(keyed)
    with sqlite3.connect(settings.home / "bots.db") as c:
        c.row_factory = sqlite3.Row
        rows = [dict(r) for r in c.execute("select * from audit order by seq")]
        prev = rows[4]["prev_hash"]
        for r in rows[4:]:
            r["prev_hash"], r["hash"] = prev, audit_hash(prev, r)
            c.execute("update audit set key_id=NULL, prev_hash=?, hash=? where seq=?", (r["prev_hash"], r["hash"], r["seq"]))
            prev = r["hash"]
        c.execute("update audit_head set hash=?", (prev,))
    problems = _problems(keyed)
    assert "record 5 (" in problems and "has no audit key id" in problems


def test_key_rotation_keeps_old_records_verifiable(settings: Settings, keyed: Store) -> None:
    _fill(keyed)
    old_kid = keyed.audit_keys.current()[0]  # type: ignore[union-attr]
    result = runner.invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                                 "audit", "rotate-key"])
    assert result.exit_code == 0, result.output
    assert "1 older key(s) kept" in result.output
    keyed.audit_keys = AuditKeys.from_settings(settings)  # reads the rotated key file
    _fill(keyed, 4)
    with sqlite3.connect(settings.home / "bots.db") as c:
        kids = [r[0] for r in c.execute("select key_id from audit order by seq")]
    assert kids[0] == old_kid and kids[-1] != old_kid and len(set(kids)) == 2
    assert stat.S_IMODE((settings.home / "keys" / "audit.key").stat().st_mode) == 0o600
    assert keyed.verify_audit() == []
    assert _verify(settings).exit_code == 0
    (settings.home / "keys" / "audit.key").write_text(  # the retired key is lost: named, not silently passed
        (settings.home / "keys" / "audit.key").read_text().splitlines()[-1] + "\n")
    keyed.audit_keys = AuditKeys.from_settings(settings)
    assert f"signed with audit key {old_kid}, which is not known" in _problems(keyed)


def test_key_from_the_environment(settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTS_AUDIT_KEY", "first-secret,second-secret")
    s = Settings(home=settings.home, config_dir=settings.config_dir, _env_file=None)
    store.audit_keys = AuditKeys.from_settings(s)
    _fill(store)
    assert not (settings.home / "keys" / "audit.key").exists()
    assert store.verify_audit() == []
    store.audit_keys = AuditKeys(s.audit_key_path, s.audit_checkpoint_path, "other-secret")
    assert "which is not known (BOTS_AUDIT_KEY)" in _problems(store)


def test_legacy_unkeyed_database_still_verifies_and_is_anchored(settings: Settings, store: Store) -> None:
    _fill(store)  # written as before keys: no key id, plain sha256, no checkpoint
    with sqlite3.connect(settings.home / "bots.db") as c:
        assert {r[0] for r in c.execute("select key_id from audit")} == {None}
        legacy = c.execute("select hash from audit where seq=10").fetchone()[0]
    assert _verify(settings).exit_code == 0  # keys configured by the CLI, chain unkeyed: fine
    store.audit_keys = AuditKeys.from_settings(settings)
    _fill(store, 2)
    with sqlite3.connect(settings.home / "bots.db") as c:
        assert c.execute("select hash from audit where seq=10").fetchone()[0] == legacy  # existing rows unchanged
    assert store.verify_audit() == []
    # the first keyed record's HMAC covers the legacy records: rewriting them is now found
    with sqlite3.connect(settings.home / "bots.db") as c:
        c.row_factory = sqlite3.Row
        rows = [dict(r) for r in c.execute("select * from audit where seq <= 10 order by seq")]
        rows[2]["result"] = "tampered"
        prev = rows[2]["prev_hash"]
        for r in rows[2:]:
            r["prev_hash"], r["hash"] = prev, audit_hash(prev, r)
            c.execute("update audit set result=?, prev_hash=?, hash=? where seq=?",
                      (r["result"], r["prev_hash"], r["hash"], r["seq"]))
            prev = r["hash"]
        c.execute("update audit set prev_hash=? where seq=11", (prev,))
    assert "record 11 (" in _problems(store)


def test_old_database_gains_the_key_id_column(settings: Settings, store: Store) -> None:
    _fill(store, 3)
    store.close()
    with sqlite3.connect(settings.home / "bots.db") as c:
        c.execute("alter table audit drop column key_id")
    reopened = Store(settings.db_url)
    try:
        reopened.audit_keys = AuditKeys.from_settings(settings)
        _fill(reopened, 2)
        assert reopened.verify_audit() == []
    finally:
        reopened.close()


def test_missing_or_truncated_checkpoint_file_is_reported(settings: Settings, keyed: Store) -> None:
    _fill(keyed)
    _fill(keyed, 5)
    cps = settings.home / "audit-checkpoints.jsonl"
    text = cps.read_text()
    cps.write_text(text.splitlines()[0] + "\n")  # the last line removed
    assert "records 11 to 15 are not in the checkpoint file" in _problems(keyed)
    cps.write_text(text[:-20])  # cut mid-line
    assert "is cut off" in _problems(keyed)
    cps.unlink()
    result = _verify(settings)
    assert result.exit_code == 1 and "is missing" in result.output


def test_forged_checkpoint_line_is_reported(settings: Settings, keyed: Store) -> None:
    _fill(keyed)
    cps = settings.home / "audit-checkpoints.jsonl"
    cp = json.loads(cps.read_text())
    cp["seq"] = 99
    with cps.open("a") as fh:
        fh.write(json.dumps(cp) + "\n")
    assert "line 2 (record 99): signature does not match" in _problems(keyed)


def test_no_phi_in_the_checkpoint_file(settings: Settings, keyed: Store) -> None:
    keyed.audit([AuditEntry(action="status_read", result="ok", claim_id="CLM-77", item_ref="acme:CLM-77",
                            detail={"member": CANARY_MEMBER, "name": CANARY_NAME})])
    text = (settings.home / "audit-checkpoints.jsonl").read_text()
    assert CANARY_MEMBER not in text and CANARY_NAME not in text and "CLM-77" not in text
    assert set(json.loads(text)) == {"seq", "hash", "ts", "kid", "mac"}


def test_rolled_back_batch_writes_no_checkpoint(settings: Settings, keyed: Store) -> None:
    _fill(keyed, 2)
    with pytest.raises(RuntimeError), keyed.begin() as conn:
        keyed.append_audit(conn, [AuditEntry(action="x", result="y")])
        raise RuntimeError("crash before commit")
    assert len((settings.home / "audit-checkpoints.jsonl").read_text().splitlines()) == 1
    assert keyed.verify_audit() == []


def test_key_id_names_the_key_without_revealing_it() -> None:
    from bots.core.audit_keys import key_id

    assert key_id(b"secret") != hashlib.sha256(b"secret").hexdigest()[:12] and len(key_id(b"secret")) == 12



# ---- per-claim rule verdicts (issue 18 item 2): one record per claim, older per-rule records still read ----

from bots.core.store.audit import RULE_EVALUATED, RULES_EVALUATED, decisions, verdict  # noqa: E402


def _per_claim(store: Store, claim_id: str) -> None:
    store.audit([AuditEntry(
        action=RULES_EVALUATED, result="fail", run_id="r2", bot="claim_edits", item_ref=f"acme:{claim_id}",
        claim_id=claim_id, input_digest="cd" * 32,
        detail={"tables": {"ptp": "ptp.txt sha256:aaa rows:3", "mue": "mue.txt sha256:bbb rows:2"},
                "verdicts": [verdict("DOC-SIGNED", "1", "pass"),
                             verdict("NCCI-PTP", "4", "fail", {"table": "ptp.txt sha256:aaa rows:3", "lines": [1, 2]})]})])


def test_per_rule_and_per_claim_records_share_one_chain_and_both_show(settings: Settings, keyed: Store) -> None:
    _fill(keyed)  # older form: one rule_evaluated record per rule
    _per_claim(keyed, "CLM-3")
    assert keyed.verify_audit() == []
    assert _verify(settings).exit_code == 0
    out = runner.invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                              "audit", "show", "CLM-3"], terminal_width=240)
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert any("rule_evaluated DOC-SIGNED v1 -> pass" in ln for ln in lines), "the per-rule record, as before"
    assert any("rules_evaluated -> fail  2 rules; input " + "cd" * 32 in ln for ln in lines)
    assert "    DOC-SIGNED v1 -> pass" in lines
    assert any(ln.startswith("    NCCI-PTP v4 -> fail  ") and '"table":"ptp.txt sha256:aaa rows:3"' in ln for ln in lines)
    rows = [d for r in keyed.audit_trail("CLM-3") for d in decisions(r)]
    assert [(d["action"], d["rule_id"], d["rule_version"]) for d in rows] == [
        (RULE_EVALUATED, "DOC-SIGNED", "1"), (RULE_EVALUATED, "DOC-SIGNED", "1"), (RULE_EVALUATED, "NCCI-PTP", "4")]
    assert rows[2]["seq"] == 11 and rows[2]["verdict"] == 2 and rows[2]["tables"]["mue"] == "mue.txt sha256:bbb rows:2"


def test_an_edited_verdict_in_a_per_claim_record_is_named(settings: Settings, keyed: Store) -> None:
    _per_claim(keyed, "CLM-1")
    _per_claim(keyed, "CLM-2")
    with sqlite3.connect(settings.home / "bots.db") as c:
        c.execute("""update audit set detail = replace(detail, '"version":"4"', '"version":"5"') where seq = 1""")
    problems = _problems(keyed)
    assert "record 1 (rules_evaluated acme:CLM-1): signature (HMAC" in problems
    assert "record 2" not in problems


def test_a_per_claim_record_whose_detail_is_not_json_still_shows(settings: Settings, store: Store) -> None:
    _per_claim(store, "CLM-9")
    with sqlite3.connect(settings.home / "bots.db") as c:
        c.execute("update audit set detail = 'garbled' where seq = 1")
    assert [d["detail"] for d in decisions(store.audit_trail("CLM-9")[0])] == ["garbled"]
    out = runner.invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                              "audit", "show", "CLM-9"])
    assert out.exit_code == 0 and "rules_evaluated -> fail  garbled" in out.output
    assert "record 1 (rules_evaluated acme:CLM-9)" in " ".join(_verify(settings).output.split())
