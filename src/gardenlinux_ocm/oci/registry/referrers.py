"""The referrers API of `RegistryTarget` (`oci.referrers.ReferrersApi`): `GET /v2/<name>/referrers/<digest>`.

A registry that serves it answers 200 with an image index (also for a subject without referrers, and page by page
through `Link` headers). Distribution 2.8 and v3 answer 404 with a plain-text page, which means "no API": the caller
then uses the fallback tag. A base class of `RegistryTarget`.
"""

from __future__ import annotations

import logging

from ...bounded import LIMITS
from ..model import Descriptor, parse_descriptor
from .auth import _RegistryAuth
from .http import _next_page

_log = logging.getLogger(__name__.rpartition(".")[0] + ".registry")  # log as the public module

_NO_API = frozenset({404, 405, 501})
_MAX_PAGES = 100


class _RegistryReferrers(_RegistryAuth):
    """`referrers()` of `RegistryTarget`."""

    def referrers(self, repository: str, subject: Descriptor) -> list[Descriptor] | None:
        """The referrers of `subject` as the registry lists them, or None when it does not serve the API."""
        ref = self._ref(repository, subject.digest)
        url: str | None = self._url(repository, "referrers", subject.digest)
        found: list[Descriptor] = []
        pages = 0
        while url is not None:
            response = self._request("GET", url, repository=repository, reference=ref, stream=True,
                                     headers={"Accept": "application/vnd.oci.image.index.v1+json"})
            if response.status_code in _NO_API and not pages:
                response.close()
                _log.debug("%s serves no referrers API (%s)", self._netloc, response.status_code)
                return None
            if response.status_code != 200:
                self._fail(response, "GET", ref)
            document = self._json(response, "GET", url, ref, what="referrers list", limit=LIMITS.manifest)
            manifests = document.get("manifests")
            if not isinstance(manifests, list):
                raise self._not_a_registry("a referrers answer without manifests", "GET", url, ref)
            try:
                found.extend(parse_descriptor(m) for m in manifests)
            except (ValueError, TypeError, AttributeError) as e:
                raise self._not_a_registry(f"a malformed referrers answer ({e})", "GET", url, ref) from e
            pages += 1
            url = _next_page(response, url) if pages < _MAX_PAGES else None
        return found
