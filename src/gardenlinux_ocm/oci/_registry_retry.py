"""Retries for `RegistryTarget`: whole operations are retried here, bounded in attempts and in total time.

gardener-oci's own retry runs with `max_retries=0` (see `registry.py`); callers re-seek their streams per attempt.
"""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

import requests

from ..errors import RegistryError
from ._registry_errors import _TRANSPORT_ERRORS, _describe_transport_error, _RegistryErrors
from ._registry_http import _content_type, _strip_query

_log = logging.getLogger(__name__.rpartition(".")[0] + ".registry")  # log as the public module


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How to retry 5xx, 429 and dropped connections: exponential backoff with full jitter, bounded in total.

    Retry number n sleeps `uniform(0, min(max_delay, base_delay * 2**(n-1)))` seconds, or what `Retry-After` asks
    for. No new attempt starts when `attempts` tries are used up or the sleep would end after `total` seconds.
    """

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    total: float = 600.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < 0 or self.total <= 0:
            raise ValueError(f"invalid retry policy: {self}")

    def backoff(self, retry: int) -> float:
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2.0 ** (retry - 1)))


class _Retry(Exception):
    """An attempt failed in a way worth retrying (5xx, 429, an expired token)."""

    def __init__(self, status: int, detail: str, retry_after: float | None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


class _RegistryRetry(_RegistryErrors):
    """The retry loop of `RegistryTarget` (a base class; `RegistryTarget.__init__` sets the policy)."""

    _retry_policy: RetryPolicy

    def _retrying[T](self, method: str, reference: str, url: str, attempt: Callable[[], T]) -> T:
        policy = self._retry_policy
        started = time.monotonic()
        tries = 0
        while True:
            tries += 1
            cause: BaseException | None = None
            try:
                return attempt()
            except _Retry as e:
                status, detail, wait = e.status, e.detail, e.retry_after
            except _TRANSPORT_ERRORS as e:
                kind, detail = _describe_transport_error(e)
                self._raise_if_fatal(kind, detail, method, url, reference, e)
                status, wait, cause = None, None, e
            delay = wait if wait is not None else policy.backoff(tries)
            elapsed = time.monotonic() - started
            if tries >= policy.attempts or elapsed + delay > policy.total:
                message = (
                    f"{method} {reference} failed after {tries} attempt(s) in {elapsed:.1f} s; "
                    f"last: {self._secrets.scrub(detail)}"
                )
                if "text/html" in detail:
                    message = f"{self._netloc} did not answer like an OCI registry (got text/html): {message}"
                raise RegistryError(
                    message,
                    method=method,
                    url=_strip_query(url),
                    status=status,
                    reference=reference,
                    hint="the registry or the network kept failing; try again later or check the registry's health",
                ) from cause
            _log.warning(
                "%s %s: %s; retry %d of %d in %.2f s",
                method,
                reference,
                self._secrets.scrub(detail),
                tries,
                policy.attempts - 1,
                delay,
            )
            time.sleep(delay)

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
