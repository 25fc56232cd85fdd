"""The one retry policy: SystemFaults retried up to the limit, BusinessExceptions never."""

from __future__ import annotations

import pytest
import structlog

from bots.core.errors import BusinessException, CaptchaChallenge, ExceptionRecord, PortalUnavailable
from bots.core.retrying import call_with_retry
from bots.core.settings import RetryConfig

FAST = RetryConfig(attempts=4, wait_initial=0.01, wait_max=0.02, jitter=0.0)


def _counting(exc: BaseException):  # type: ignore[no-untyped-def]
    calls = []

    def fn() -> None:
        calls.append(1)
        raise exc

    return fn, calls


def test_system_fault_is_retried_the_configured_number_of_times() -> None:
    fn, calls = _counting(PortalUnavailable("HTTP 503"))
    retries = []
    with structlog.testing.capture_logs() as logs, pytest.raises(PortalUnavailable):
        call_with_retry(fn, FAST, on_retry=lambda e, n: retries.append(n), item="acme:CLM-1")
    assert len(calls) == 4
    assert retries == [1, 2, 3]
    events = [e for e in logs if e["event"] == "retrying"]
    assert len(events) == 3 and events[0]["item"] == "acme:CLM-1" and events[0]["error_type"] == "PortalUnavailable"


def test_business_exception_is_never_retried() -> None:
    fn, calls = _counting(BusinessException(ExceptionRecord(queue="Denials", rule_id="F2", reason="denied")))
    with pytest.raises(BusinessException):
        call_with_retry(fn, FAST)
    assert len(calls) == 1


def test_non_retryable_fault_is_not_retried() -> None:
    fn, calls = _counting(CaptchaChallenge("captcha page"))
    with pytest.raises(CaptchaChallenge):
        call_with_retry(fn, FAST)
    assert len(calls) == 1


def test_success_after_transient_faults() -> None:
    calls = []

    def fn() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise PortalUnavailable("503")
        return "ok"

    assert call_with_retry(fn, FAST) == "ok" and len(calls) == 3


def test_waits_grow_exponentially_with_a_cap() -> None:
    sleeps: list[float] = []
    fn, _ = _counting(PortalUnavailable("503"))
    cfg = RetryConfig(attempts=5, wait_initial=1, wait_max=3, jitter=0, max_delay=None)
    with pytest.raises(PortalUnavailable):
        call_with_retry(fn, cfg, sleep=sleeps.append)
    assert sleeps == [1, 2, 3, 3]
