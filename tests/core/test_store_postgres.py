"""The store on PostgreSQL: what several robot machines sharing one database rely on.

A throwaway cluster (``pg_cluster.PgCluster``: the machine's initdb and pg_ctl, a Unix socket in a
temporary folder) serves the module; the tests skip where none can start.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from bots.core.errors import ExceptionRecord
from bots.core.runner import run_bot
from bots.core.settings import Settings
from bots.core.store import AuditEntry, Store, WorkItemSpec
from fake_bots import CountingBot, HelperProbeBot
from pg_cluster import ClusterUnavailable, PgCluster


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    try:
        cluster = PgCluster()
    except ClusterUnavailable as exc:
        pytest.skip(str(exc))
    with cluster:
        yield cluster.url


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    cleaner = create_engine(pg_url)
    with cleaner.begin() as conn:  # each test starts from an empty database
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    cleaner.dispose()
    store = Store(pg_url)  # as on a fresh database: the schema and the chain head
    yield store
    store.close()


def _wait_until_a_session_waits_on_a_lock(url: str) -> None:
    """Return once some session of the cluster waits on a lock (another robot's transaction)."""
    from sqlalchemy import text

    watcher = create_engine(url)
    try:
        with watcher.connect() as probe:
            for _ in range(600):
                if probe.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")).scalar():
                    return
                threading.Event().wait(0.05)
        pytest.fail("the second robot never waited on the first one's lock")
    finally:
        watcher.dispose()


def test_two_robots_claiming_at_once_never_take_the_same_item(pg_store: Store) -> None:
    pg_store.enqueue("payer_portal", [WorkItemSpec(reference=f"acme:CLM-{i}", digest="d") for i in range(200)])
    taken: dict[str, list[str]] = {"a": [], "b": []}

    ready = threading.Barrier(2)

    def robot(name: str) -> None:
        store = Store(pg_store.url)  # a second machine: its own engine and connections
        ready.wait()  # both claim from the start, however long opening the store took
        while items := store.claim_items("payer_portal", f"run-{name}", limit=7, lease_seconds=60):
            taken[name].extend(i.reference for i in items)
        store.close()

    threads = [threading.Thread(target=robot, args=(n,)) for n in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    both = taken["a"] + taken["b"]
    assert len(both) == 200 and len(set(both)) == 200, "SKIP LOCKED hands every item to exactly one robot"
    assert taken["a"] and taken["b"], "both robots got work"


def test_concurrent_audit_appends_keep_one_intact_chain(pg_store: Store) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        store = Store(pg_store.url)
        try:
            for i in range(20):
                store.audit([AuditEntry(action="status_read", result="F1", bot="payer_portal",
                                        item_ref=f"acme:CLM-{n}-{i}", claim_id=f"CLM-{n}-{i}")])
        except BaseException as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [], "every writer appended without a clash"
    assert pg_store.verify_audit() == []
    seqs = [r["seq"] for r in pg_store.audit_records()]
    assert seqs == list(range(1, 81)), "80 appends, one unbroken sequence"


def test_a_bot_run_exceptions_and_reruns_work_unchanged(pg_store: Store, settings: Settings) -> None:
    settings.config.retry.attempts = 1
    first = run_bot(CountingBot(12, business={3}, fail={5}), settings, pg_store, write_workbook=False)
    assert first.ok and first.counts["exceptions"] == 1 and first.counts["retried"] == 1
    again = run_bot(CountingBot(12, business={3}), settings, pg_store, write_workbook=False)
    assert again.counts["items"] == 1 and pg_store.item_counts("claim_edits") == {"done": 11, "exception": 1}
    with pg_store.begin() as conn:  # the same finding again is the same row (upsert), not a duplicate
        ids = pg_store.record_exceptions(conn, bot="claim_edits", item_ref="item-003", run_id="r3", records=[
            ExceptionRecord(queue="Claim Edits", rule_id="TEST-RULE", reason="test rule failed", claim_id="item-003")])
    rows = pg_store.exception_rows()
    assert [r["exception_id"] for r in rows] == ids and rows[0]["times_seen"] == 2
    assert pg_store.verify_audit() == []


def test_sign_in_blocks_hold_supersede_and_clear_and_one_stays_active_per_site(pg_store: Store) -> None:
    from sqlalchemy.exc import IntegrityError

    from bots.core.store.schema import signin_blocks

    fp = pg_store.credential_fingerprint(["robot", "wrong"])
    args = {"site": "acme", "bot": "payer_portal", "run_id": "r1", "message": "refused"}
    assert pg_store.record_signin_refused(fingerprint=fp, **args) is True
    assert pg_store.signin_block_for("acme", fp, bot="payer_portal", run_id="r2")["held_runs"] == 0
    assert pg_store.signin_blocks()[0]["held_runs"] == 1
    with pytest.raises(IntegrityError), pg_store.begin() as conn:
        conn.execute(signin_blocks.insert().values(fingerprint=fp, blocked_at="now", **args))
    other = pg_store.credential_fingerprint(["robot", "right"])
    assert pg_store.signin_block_for("acme", other, bot="payer_portal", run_id="r3") is None
    assert pg_store.record_signin_refused(fingerprint=other, **args) is True
    assert pg_store.clear_signin_block("acme", by="it-desk") == 1 and pg_store.signin_blocks() == []


def test_a_run_with_a_helper_process_shares_the_postgres_queue(pg_store: Store, settings: Settings,
                                                                tmp_path: Path) -> None:
    trace = tmp_path / "trace.txt"
    bots_toml = settings.config_dir / "bots.toml"
    body = re.sub(r"(?ms)(^\[bots\.claim_edits\]\n.*?)^batch_size = [^\n]*\n", r"\g<1>batch_size = 5\n",
                  bots_toml.read_text(), count=1)
    bots_toml.write_text(body + f'\n[bots.claim_edits.options]\nitems = 40\ntrace = "{trace}"\n')
    pg_settings = Settings(home=settings.home, config_dir=settings.config_dir, database_url=pg_store.url,
                           _env_file=None)
    assert pg_settings.config.bot("claim_edits").processes == 2  # as shipped

    result = run_bot(HelperProbeBot(pg_settings), pg_settings, pg_store, write_workbook=False)

    assert result.status == "succeeded", result.message
    done = [line.split() for line in trace.read_text().splitlines()]
    assert sorted(ref for _pid, ref in done) == [f"item-{i:03d}" for i in range(40)]  # each once
    assert len({pid for pid, _ref in done}) == 2
    assert pg_store.item_counts("claim_edits") == {"done": 40}
    assert pg_store.verify_audit() == []


def test_a_reopen_waiting_on_a_robot_that_finishes_the_item_leaves_it_finished(pg_store: Store) -> None:
    """Robot B read the finished items and reopens the due ones while robot A holds one in an open
    transaction (claimed again and finished). B's UPDATE waits on A's row lock; when A commits, the
    row it re-reads has a new ``updated_at``, so B leaves it alone (read committed re-checks the
    locked row) and reopens only the item nobody touched."""
    from sqlalchemy import text

    from bots.core.store.base import iso, utcnow

    pg_store.enqueue("payer_portal", [WorkItemSpec(reference=r, digest="d") for r in ("acme:A", "acme:B")])
    with pg_store.begin() as conn:
        conn.execute(text("UPDATE work_items SET state = 'done'"))
    as_read = pg_store.reopenable_items("payer_portal")
    assert set(as_read) == {"acme:A", "acme:B"}

    robot_b = Store(pg_store.url)
    reopened: list[int] = []

    def reopen() -> None:
        with robot_b.begin() as conn:
            reopened.append(robot_b.reopen("payer_portal", list(as_read), conn, as_read=as_read))

    with pg_store.begin() as conn:  # robot A: the item claimed and finished in one open transaction
        conn.execute(text("UPDATE work_items SET state = 'done', updated_at = :t WHERE reference = 'acme:A'"),
                     {"t": iso(utcnow())})
        waiter = threading.Thread(target=reopen)
        waiter.start()
        _wait_until_a_session_waits_on_a_lock(pg_store.url)  # B is blocked on A's row lock before A commits
    waiter.join(30)
    robot_b.close()
    assert reopened == [1]
    states = {r["reference"]: (r["state"], r["cycles"]) for r in pg_store.work_items("payer_portal")}
    assert states == {"acme:A": ("done", 1), "acme:B": ("new", 2)}


def test_two_robots_first_edit_scans_on_a_fresh_database_load_the_sample_tables_once(pg_store: Store) -> None:
    """Two robots' first claim_edits runs start together on an empty shared database: one creates
    the edit tables and loads the sample NCCI tables, the other waits and finds them loaded. Before
    the tables lock, both created the tables (a duplicate-type error) and each activation dropped
    the version the other had loaded, leaving no MUE table."""
    from bots.claim_edits.importer import active_versions, load_samples_if_missing
    from bots.claim_edits.tables import ensure_tables

    reference = Path(__file__).resolve().parents[2] / "config" / "reference"
    barrier = threading.Barrier(2)
    loaded: list[int] = []
    errors: list[str] = []

    def robot() -> None:
        store = Store(pg_store.url)
        barrier.wait()
        try:
            ensure_tables(store)
            loaded.append(len(load_samples_if_missing(store, reference)))
        except Exception as exc:  # noqa: BLE001 - the test reports what broke
            errors.append(repr(exc))
        finally:
            store.close()

    robots = [threading.Thread(target=robot) for _ in range(2)]
    for t in robots:
        t.start()
    for t in robots:
        t.join(120)
    assert errors == []
    assert sorted(loaded) == [0, 2], "one robot loaded both sample tables, the other found them loaded"
    active = active_versions(pg_store)
    assert set(active) == {"ptp", "mue"}
    with pg_store.read() as conn:
        versions = conn.exec_driver_sql("SELECT kind, count(*) FROM edit_table_versions GROUP BY kind").all()
    assert dict(versions) == {"ptp": 1, "mue": 1}


def test_two_robots_queueing_the_same_new_items_at_once_add_each_once(pg_store: Store) -> None:
    """Two robots started by the same schedule enqueue the same new claims: robot B read the queue
    before robot A committed its insert, so both insert the same references. B's insert waits on
    A's, then leaves A's rows as they are (no unique-key error failing B's run) and says it added
    none."""

    specs = [WorkItemSpec(reference=f"acme:CLM-{i}", claim_key=f"acme:CLM-{i}", digest="d") for i in range(300)]
    robot_b = Store(pg_store.url)
    added_b: list[int] = []
    errors: list[str] = []

    def enqueue_b() -> None:
        try:
            added_b.append(robot_b.enqueue("claim_edits", specs))
        except Exception as exc:  # noqa: BLE001 - the test reports what broke
            errors.append(repr(exc))

    with pg_store.begin() as conn:  # robot A's enqueue, not yet committed
        added_a = pg_store.enqueue("claim_edits", specs, conn=conn)
        waiter = threading.Thread(target=enqueue_b)
        waiter.start()
        _wait_until_a_session_waits_on_a_lock(pg_store.url)  # B's insert waits on A's uncommitted rows
    waiter.join(30)
    robot_b.close()
    assert errors == []
    assert (added_a, added_b) == (300, [0])
    assert pg_store.item_counts("claim_edits") == {"new": 300}
