"""Retries for `RegistryTarget`: whole operations are retried here, bounded by time, not by a count of attempts.

gardener-oci's own retry runs with `max_retries=0` (see `registry.py`); callers re-seek their streams per attempt.
An operation keeps retrying transient failures (5xx, 429, resets, cut bodies) with capped exponential backoff and
jitter while its deadline allows; all operations of one target share a budget for the time spent waiting. The first
retries come quickly, so that scattered faults cost little; a long outage is waited out up to the deadline.
"""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import requests

from ...errors import RegistryError
from ..streams import current_stop
from .bodies import _ShortBody
from .errors import _TRANSPORT_ERRORS, _describe_transport_error, _RegistryErrors
from .http import _content_type, _strip_query

_log = logging.getLogger(__name__.rpartition(".")[0] + ".registry")  # log as the public module
_WARN_AFTER = 3  # retries of one operation before each further one is logged as a warning
_WARN_DELAY = 1.0  # seconds of wait from which a retry is logged as a warning


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How to retry 5xx, 429, resets and cut bodies: capped exponential backoff with jitter, bounded in time.

    Retry number n waits `uniform(d/2, d)` seconds with `d = min(max_delay, base_delay * 2**(n-1))` (cut short at
    the deadline), or what `Retry-After` asks for when that is at most `max_retry_after` (a longer wait fails at
    once, naming it). No new attempt starts after `operation` seconds from the operation's first attempt (nor when a
    Retry-After would end later), when the waits of all operations of the target would add up to more than `total`
    seconds, or (when set) when `attempts` tries are used up.
    """

    operation: float = 120.0
    total: float = 600.0
    base_delay: float = 0.02
    max_delay: float = 5.0
    max_retry_after: float = 60.0
    attempts: int | None = None

    def __post_init__(self) -> None:
        if (
            (self.attempts is not None and self.attempts < 1)
            or self.base_delay < 0
            or self.max_delay < 0
            or self.max_retry_after < 0
            or self.operation <= 0
            or self.total <= 0
        ):
            raise ValueError(f"invalid retry policy: {self}")

    def backoff(self, retry: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(retry - 1, 64))
        return random.uniform(ceiling / 2, ceiling)


class _Retry(Exception):
    """An attempt failed in a way worth retrying (5xx, 429, an expired token, a re-checked race)."""

    def __init__(self, status: int | None, detail: str, retry_after: float | None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


class _RetryBudget:
    """Seconds of retry waits left to all operations of one target (thread-safe)."""

    def __init__(self, seconds: float) -> None:
        self._left = seconds
        self._lock = threading.Lock()

    def take(self, seconds: float) -> bool:
        with self._lock:
            if seconds > self._left:
                return False
            self._left -= seconds
            return True


class _RegistryRetry(_RegistryErrors):
    """The retry loop of `RegistryTarget` (a base class; `RegistryTarget.__init__` sets the policy and budget)."""

    _retry_policy: RetryPolicy
    _retry_budget: _RetryBudget

    def _retrying[T](self, method: str, reference: str, url: str, attempt: Callable[[], T]) -> T:
        """Run `attempt` until it returns, raises a final error, or the policy ends the retries.

        A copy that failed elsewhere stops the loop between attempts and during waits (`streams.current_stop`).
        """
        policy = self._retry_policy
        stop = current_stop()
        started = time.monotonic()
        tries = 0
        while True:
            if stop is not None:
                stop.check()
            tries += 1
            cause: BaseException | None = None
            try:
                return attempt()
            except _Retry as e:
                status, detail, wait = e.status, e.detail, e.retry_after
            except _ShortBody as e:
                status, detail, wait, cause = None, str(e), None, e
            except _TRANSPORT_ERRORS as e:
                kind, detail = _describe_transport_error(e)
                self._raise_if_fatal(kind, detail, method, url, reference, e)
                status, wait, cause = None, None, e
            elapsed = time.monotonic() - started
            detail = self._secrets.scrub(detail)
            if wait is not None and wait > policy.max_retry_after:
                raise self._gave_up(
                    method,
                    url,
                    reference,
                    status,
                    f"the registry asked to retry after {wait:g} s (Retry-After), longer than the "
                    f"{policy.max_retry_after:g} s this tool waits; last: {detail}",
                    hint=f"the registry limits requests; try again in {wait:g} s or later",
                    cause=cause,
                )
            left = policy.operation - elapsed
            delay = wait if wait is not None else min(policy.backoff(tries), left)
            why = None
            if policy.attempts is not None and tries >= policy.attempts:
                why = ""
            elif wait is not None and wait > left:
                why = (
                    f"; the registry asked to retry after {wait:g} s (Retry-After), beyond the "
                    f"{policy.operation:g} s deadline of an operation"
                )
            elif left <= 0:  # a Retry-After of 0 is a retry now, not a deadline
                why = f"; the {policy.operation:g} s deadline of an operation has passed"
            elif not self._retry_budget.take(delay):
                why = f"; the {policy.total:g} s retry budget of this run is used up"
            if why is not None:
                message = (
                    f"{method} {reference} failed after {tries} attempt(s) in {elapsed:.1f} s{why}; last: {detail}"
                )
                if "text/html" in detail:
                    message = f"{self._netloc} did not answer like an OCI registry (got text/html): {message}"
                raise self._gave_up(method, url, reference, status, message, cause=cause)
            # Scattered faults are retried quietly; a wait that grows (an outage, rate limiting) is worth a warning.
            level = logging.WARNING if tries >= _WARN_AFTER or delay >= _WARN_DELAY else logging.INFO
            _log.log(level, "%s %s: %s; retry %d in %.2f s", method, reference, detail, tries, delay)
            if stop is not None:
                stop.sleep(delay)
            else:
                time.sleep(delay)

    def _gave_up(
        self,
        method: str,
        url: str,
        reference: str,
        status: int | None,
        message: str,
        *,
        hint: str = "the registry or the network kept failing; try again later or check the registry's health",
        cause: BaseException | None,
    ) -> RegistryError:
        error = RegistryError(
            message, method=method, url=_strip_query(url), status=status, reference=reference, hint=hint
        )
        error.__cause__ = cause
        return error

    def _checked(self, response: requests.Response) -> requests.Response:
        """Raise `_Retry` for statuses worth retrying; return every other response."""
        status = response.status_code
        if status == 429 or (500 <= status < 600 and status not in (501, 505)):
            media_type = _content_type(response)
            detail = f"{status} {response.reason}" + (f" ({media_type})" if media_type else "")
            retry_after = _retry_after(response)
            response.close()
            raise _Retry(status, detail, retry_after)
        return response


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
