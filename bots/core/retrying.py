"""The in-process retry policy: tenacity, with exponential backoff and jitter (``RetryConfig``).

What is retried is decided in ``bots.core.lifecycle``, with the other level: in-process,
only a retryable ``SystemFault`` (``retry_in_process``); across runs, the runner puts the
item back until ``max_attempts`` runs have tried it (``retry_next_run``, used by
``lifecycle.settle``), then marks it ``failed`` and routes it to Bot Failures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import tenacity
from tenacity import RetryCallState

from bots.core.lifecycle import retry_in_process
from bots.core.logging import get_logger
from bots.core.settings import RetryConfig

__all__ = ["retry_policy", "call_with_retry"]

T = TypeVar("T")
log = get_logger("bots.retry")


def retry_policy(
    config: RetryConfig,
    *,
    on_retry: Callable[[BaseException, int], None] | None = None,
    sleep: Callable[[float], None] | None = None,
    **context: Any,
) -> tenacity.Retrying:
    """A tenacity ``Retrying`` for one piece of work; ``context`` goes into the retry log."""

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "retrying",
            attempt=state.attempt_number,
            of=config.attempts,
            wait_s=round(wait, 2),
            error_type=type(exc).__name__,
            error=str(exc),
            **context,
        )
        if on_retry is not None and exc is not None:
            on_retry(exc, state.attempt_number)

    stop = tenacity.stop_after_attempt(config.attempts)
    if config.max_delay is not None:
        stop = stop | tenacity.stop_after_delay(config.max_delay)
    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(retry_in_process),
        stop=stop,
        wait=tenacity.wait_exponential(multiplier=config.wait_initial, max=config.wait_max)
        + tenacity.wait_random(0, config.jitter),
        before_sleep=before_sleep,
        reraise=True,
        **kwargs,
    )


def call_with_retry(fn: Callable[[], T], config: RetryConfig, **kwargs: Any) -> T:
    return retry_policy(config, **kwargs)(fn)
