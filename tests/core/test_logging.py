"""PHI and secrets never reach a log file."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import structlog

from bots.core.errors import BusinessException, ExceptionRecord, SystemFault
from bots.core.logging import get_logger, register_secret, scrub_phi
from bots.core.runner import ItemContext, Outcome, RunContext, run_bot
from bots.core.settings import Settings
from bots.core.store import ClaimedItem, Store, WorkItemSpec
from bots.core.worklist import load_worklist
from canaries import CANARY_DOB, CANARY_MEMBER, CANARY_NAME, CANARY_PASSWORD, log_text
from worklist_helpers import GOOD, write_csv


class LeakyBot:
    """Tries every way a careless bot could leak PHI into a log."""

    name = "claim_edits"

    def enqueue(self, run: RunContext) -> int:
        return run.store.enqueue(self.name, [WorkItemSpec(reference="acme:CLM-C1", claim_key="acme:CLM-C1"),
                                             WorkItemSpec(reference="acme:CLM-C2", claim_key="acme:CLM-C2")])

    def session(self, run: RunContext) -> Any:
        return contextlib.nullcontext()

    def process(self, item: ClaimedItem, ctx: ItemContext) -> Outcome:
        c = ctx.claim
        assert c is not None and c.patient_name == CANARY_NAME
        ctx.log.info("looking_up", patient_name=c.patient_name, member_id=c.member_id, dob=c.patient_dob,
                     password=CANARY_PASSWORD)
        ctx.log.info("free_text", note=f"found {c.patient_name} / {c.member_id} born {c.patient_dob}",
                     nested={"member": c.member_id, "list": [c.patient_name]})
        ctx.log.info("secret_in_text", note=f"typed {CANARY_PASSWORD} into the password box")
        if item.reference.endswith("C1"):
            raise SystemFault(f"page said: no record for {c.patient_name} ({c.member_id})")
        raise BusinessException(ExceptionRecord(queue="Denials", rule_id="X", reason=f"denied for {c.patient_name}"))

    def references_for_claims(self, store: Store, claim_ids: set[str]) -> list[str]:
        return []


def test_canary_phi_and_password_never_appear_in_any_log_file(tmp_path: Path, settings: Settings, store: Store) -> None:
    register_secret(CANARY_PASSWORD)
    canary = {**GOOD, "patient_name": CANARY_NAME, "member_id": CANARY_MEMBER, "patient_dob": CANARY_DOB}
    path = write_csv(tmp_path / "wl.csv", [{**canary, "claim_id": "CLM-C1"}, {**canary, "claim_id": "CLM-C2"},
                                           {**canary, "claim_id": "CLM-C3", "units": "zero"}])
    load_worklist(store, path)
    settings.config.retry.attempts = 2
    settings.config.retry.wait_initial = 0
    result = run_bot(LeakyBot(), settings, store, write_workbook=False)
    assert result.counts["exceptions"] == 1 and result.counts["retries"] == 1
    text = log_text(settings)
    assert "looking_up" in text and "free_text" in text, "the events themselves were logged"
    for canary_value in (CANARY_NAME, CANARY_MEMBER, CANARY_DOB, CANARY_PASSWORD):
        assert canary_value not in text, f"{canary_value!r} leaked into a log"
    assert "[redacted]" in text


def test_scrub_drops_phi_keys_and_keeps_the_rest() -> None:
    out = scrub_phi(None, "info", {"event": "x", "claim_id": "CLM-1", "patient_name": "DOE", "Member_ID": "A1",
                                   "nested": {"password": "p", "ok": 1}})
    assert out == {"event": "x", "claim_id": "CLM-1", "nested": {"password": "[redacted]", "ok": 1}}


def test_capture_logs_sees_key_value_events() -> None:
    with structlog.testing.capture_logs() as logs:
        get_logger("bots.test").info("claim_status_read", claim_id="CLM-1", category="F1")
    assert logs[0]["event"] == "claim_status_read" and logs[0]["category"] == "F1"


# ---- logs IT can ship: several processes, the journal -------------------------------------------

TESTS = Path(__file__).resolve().parents[1]

WRITER = """
import sys, time
from pathlib import Path
from bots.core.logging import configure_logging, get_logger
logs, tag, n, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
configure_logging(logs, "INFO", console=False, stdout=False, max_bytes=8192, backup_count=1000)
log = get_logger("bots.test")
while not go.exists():  # both writers start together
    time.sleep(0.01)
for i in range(n):
    log.info("line", proc=tag, seq=i, pad="x" * 120)
"""


def test_two_processes_logging_through_rotation_lose_and_split_no_line(tmp_path: Path) -> None:
    logs, go, n = tmp_path / "logs", tmp_path / "go", 400
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(logs), tag, str(n), str(go)])
             for tag in ("a", "b")]
    go.touch()
    for p in procs:
        assert p.wait(timeout=300) == 0
    files = sorted(logs.glob("bots.jsonl*"))
    assert len(files) > 5, "the test must actually rotate, many times"
    seen: dict[str, list[int]] = {"a": [], "b": []}
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)  # an interleaved or cut line would not parse
            seen[event["proc"]].append(event["seq"])
    assert sorted(seen["a"]) == list(range(n)) and sorted(seen["b"]) == list(range(n))


STDOUT_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from bots.core.logging import configure_logging, get_logger, register_secret
from canaries import CANARY_NAME, CANARY_PASSWORD
register_secret(CANARY_PASSWORD)
configure_logging(Path({logs!r}), "INFO")
get_logger("bots.runner").info("run_finished", bot="claim_edits", status="succeeded", items=3,
                               patient_name=CANARY_NAME, note="typed " + CANARY_PASSWORD)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "BOTS_LOG_STDOUT")}
    return {**env, **extra}


def _script(tmp_path: Path) -> str:
    return STDOUT_SCRIPT.format(tests=str(TESTS), logs=str(tmp_path / "logs"))


def _assert_json_event_without_phi(out: str) -> None:
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["event"] for e in events] == ["run_finished"]
    assert events[0]["items"] == 3 and events[0]["bot"] == "claim_edits"
    for canary in (CANARY_NAME, CANARY_PASSWORD):
        assert canary not in out


def test_under_systemd_json_events_go_to_stdout_for_the_journal(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    st = os.fstat(write_end)  # what systemd puts in JOURNAL_STREAM: our stdout's device and inode
    proc = subprocess.Popen([sys.executable, "-c", _script(tmp_path)], stdout=write_end,
                            env=_env(JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}"))
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as fh:
        out = fh.read()
    assert proc.wait(timeout=120) == 0
    _assert_json_event_without_phi(out)
    assert "run_finished" in (tmp_path / "logs" / "bots.jsonl").read_text(), "the file still has it too"


def test_bots_log_stdout_sends_json_to_any_stdout(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _script(tmp_path)], capture_output=True, text=True,
                          env=_env(BOTS_LOG_STDOUT="1"), timeout=120)
    assert done.returncode == 0, done.stderr
    _assert_json_event_without_phi(done.stdout)


def test_a_plain_pipe_gets_no_log_lines(tmp_path: Path) -> None:
    """`bots runs --json | jq` and cron mail carry only the command's own output."""
    done = subprocess.run([sys.executable, "-c", _script(tmp_path)], capture_output=True, text=True,
                          env=_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "run_finished" in (tmp_path / "logs" / "bots.jsonl").read_text()
