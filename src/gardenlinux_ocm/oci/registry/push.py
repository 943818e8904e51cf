"""The write side of `RegistryTarget`: manifest and blob uploads, and the manifests it keeps for tagging.

A manifest is PUT under a digest or, when the caller holds its bytes for tagging, directly under each tag (which
stores and tags it at once: one upload per tag, none by digest). A blob upload asks whether the blob exists unless
`exists` has just said it does not, and a mount answered with an upload session (202) uploads into that session
instead of opening another.

A base class of `RegistryTarget` (which sets the state declared here). Every upload is one retried operation: a
manifest PUT is safe to repeat, a blob upload is repeated from position 0 of the caller's (seekable) stream. A manifest
PUT refused with DIGEST_INVALID / MANIFEST_BLOB_UNKNOWN is re-checked before it is reported as bad content: a
distribution registry answers so when two clients PUT the same manifest at once, although the manifest is fine.
"""

from __future__ import annotations

import collections
import logging
import threading
import urllib.parse
from typing import TYPE_CHECKING, BinaryIO

import requests

from ...errors import DigestMismatch, NotFound, RegistryError, TargetError
from ..graph import successors
from ..model import Descriptor
from .auth import _RegistryAuth
from .bodies import _read_up_to
from .errors import _TRANSPORT_ERRORS, _error_body, _registry_errors
from .http import (
    _check_content,
    _json_media_type,
    _LocalReadError,
    _rewind,
    _SizeMismatch,
    _UploadBody,
)
from .retry import _Retry

_log = logging.getLogger(__name__.rpartition(".")[0] + ".registry")  # log as the public module

_MAX_MANIFEST_BYTES = 4 << 20  # distribution's limit
_MANIFEST_CACHE = 256  # manifests this target pushed or read, by (repository, digest): tagging needs no GET
_MANIFEST_CACHE_BYTES = 16 << 20
_ABSENT = 4096  # blobs found absent by `exists`, kept for the upload that follows: it asks no second time
# A manifest PUT answered 400 with these while its children are stored: distribution races when two clients PUT the
# same manifest (it links the children concurrently). Re-checked, then retried this many times.
_RACE_CODES = frozenset({"DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN"})
_RECHECKS = 3


class _RegistryPush(_RegistryAuth):
    """Uploads of `RegistryTarget` (a base class; `RegistryTarget.__init__` sets the state)."""

    _manifest_cache: collections.OrderedDict[tuple[str, str], tuple[bytes, str]]
    _absent: collections.OrderedDict[tuple[str, str], None]
    _cache_lock: threading.Lock

    if TYPE_CHECKING:  # defined by RegistryTarget (the read side)

        def exists(self, repository: str, descriptor: Descriptor) -> bool: ...

        def _exists(self, repository: str, descriptor: Descriptor) -> bool: ...

        def resolve(self, repository: str, reference: str) -> Descriptor: ...

    def _push_manifest(self, repository: str, descriptor: Descriptor, content: BinaryIO) -> None:
        _rewind(content)
        data = _read_up_to(content, min(descriptor.size, _MAX_MANIFEST_BYTES) + 1)
        self._store_manifest(repository, descriptor.digest, descriptor, data)

    def _store_manifest(self, repository: str, reference: str, descriptor: Descriptor, data: bytes) -> None:
        """PUT the manifest `data` under `reference` (its digest, or a tag: that stores and tags it at once)."""
        ref = self._ref(repository, reference)
        if descriptor.size > _MAX_MANIFEST_BYTES:
            raise TargetError(f"manifest {ref} is {descriptor.size} bytes; registries accept at most 4 MiB")
        _check_content(data, descriptor, ref, "the source")
        media_type = _json_media_type(data) or descriptor.media_type
        self._put_manifest(repository, reference, descriptor, data, media_type)
        self._remember_manifest(repository, descriptor.digest, data, media_type)

    def _put_manifest(
        self, repository: str, reference: str, descriptor: Descriptor, data: bytes, media_type: str
    ) -> None:
        """PUT a manifest by digest or tag (safe to repeat, so resets are retried too).

        A 400 DIGEST_INVALID / MANIFEST_BLOB_UNKNOWN is re-checked before it is called bad content: stored meanwhile
        (by a concurrent writer) is success; a child that is missing is named; with every child stored, the PUT is
        retried, as the registry raced with another writer of the same manifest.
        """
        ref = self._ref(repository, reference)
        url = self._url(repository, "manifests", reference)
        rechecks = 0

        def attempt() -> requests.Response | None:
            nonlocal rechecks
            response = self._checked(
                self._send(
                    "PUT", url, repository=repository, push=True, headers={"Content-Type": media_type}, data=data
                )
            )
            if 200 <= response.status_code < 300:
                return response
            body = _error_body(response, "PUT")
            codes = _registry_errors(body)[0] & _RACE_CODES
            if response.status_code != 400 or not codes:
                raise self._error(response, "PUT", ref, body=body)
            response.close()
            rechecks += 1
            if self._points_at(repository, reference, descriptor):
                _log.debug("%s was stored meanwhile (400 %s re-checked)", ref, ", ".join(sorted(codes)))
                return None
            children = _children(descriptor, data)
            missing = [child for child in children if not self.exists(repository, child)]
            if missing:
                raise TargetError(
                    f"registry {self._netloc} rejected {ref} ({', '.join(sorted(codes))}): "
                    f"{len(missing)} of its {len(children)} children are not stored, e.g. "
                    f"{self._ref(repository, missing[0].digest)}",
                    reference=ref,
                    hint="push every blob and child manifest before the manifest; a re-run of the copy does that",
                )
            detail = (
                f"400 ({', '.join(sorted(codes))}) although all {len(children)} children are stored "
                f"(re-checked {rechecks} time(s); a concurrent writer of the same manifest?)"
            )
            if rechecks > _RECHECKS:
                raise RegistryError(
                    f"registry {self._netloc} keeps rejecting PUT {ref}: {detail}",
                    method="PUT",
                    url=url,
                    status=400,
                    reference=ref,
                    hint="check the registry's log; the manifest and its children are complete on this side",
                )
            raise _Retry(400, detail, None)

        response = self._retrying("PUT", ref, url, attempt)
        if response is not None:
            self._check_stored_digest(response, descriptor, ref)

    def _points_at(self, repository: str, reference: str, descriptor: Descriptor) -> bool:
        """Whether `reference` (a digest or a tag) is stored as `descriptor` now."""
        try:
            return self.resolve(repository, reference).digest == descriptor.digest
        except NotFound:
            return False

    def _push_blob(
        self, repository: str, descriptor: Descriptor, content: BinaryIO, *, session: str | None = None
    ) -> None:
        """Upload a blob monolithically (POST, then PUT with the digest), unless it is there already.

        A blob that `exists` has just found absent is not asked about again. `session` is the URL of an upload the
        registry has opened already (a mount answered 202): the first attempt uses it, a retry opens a new one.
        """
        ref = self._ref(repository, descriptor.digest)
        known_absent = session is not None or self._take_absent(repository, descriptor.digest)
        if not known_absent and self._exists(repository, descriptor):
            _log.debug("%s exists, not uploading", ref)
            return
        uploads = self._url(repository, "blobs", "uploads", "")
        seekable = content.seekable()
        consumed = False
        opened = session

        def attempt() -> requests.Response:
            nonlocal consumed, opened
            if seekable:
                content.seek(0)
            elif consumed:
                raise TargetError(
                    f"cannot retry the upload of {ref}: the content stream is not seekable", reference=ref
                )
            location, opened = opened or self._start_upload(uploads, repository, ref), None
            separator = "&" if urllib.parse.urlsplit(location).query else "?"
            url = location + separator + urllib.parse.urlencode({"digest": descriptor.digest})
            body: _UploadBody | bytes = _UploadBody(content, descriptor.size) if descriptor.size else b""
            consumed = True
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(descriptor.size)}
            return self._checked(self._send("PUT", url, repository=repository, push=True, headers=headers, data=body))

        try:
            response = self._retrying("PUT", ref, uploads, attempt)
        except _SizeMismatch as e:
            raise DigestMismatch(f"{ref}: {e}", reference=ref) from None
        except _LocalReadError as e:
            raise TargetError(f"cannot read the content of {ref}: {e}", reference=ref) from e.__cause__
        if response.status_code != 201:
            self._fail(response, "PUT", ref)
        self._check_stored_digest(response, descriptor, ref)
        _log.debug("uploaded %s (%d bytes)", ref, descriptor.size)

    def _start_upload(self, uploads: str, repository: str, ref: str) -> str:
        """Open an upload session (one attempt): the absolute URL to PUT the blob to."""
        started = self._checked(
            self._send("POST", uploads, repository=repository, push=True, headers={"Content-Length": "0"})
        )
        if started.status_code != 202 or not started.headers.get("Location"):
            self._fail(started, "POST", ref)
        location = urllib.parse.urljoin(started.url, started.headers["Location"])
        started.close()
        return location

    def _cancel_upload(self, response: requests.Response, repository: str) -> None:
        location = response.headers.get("Location")
        response.close()
        if not location:
            return
        url = urllib.parse.urljoin(response.url, location)
        try:
            self._send("DELETE", url, repository=repository, push=True).close()
        except (RegistryError, _Retry, *_TRANSPORT_ERRORS) as e:
            _log.debug("could not cancel an upload session on %s: %s", self._netloc, type(e).__name__)

    def _remember_manifest(self, repository: str, digest: str, data: bytes, media_type: str) -> None:
        """Keep a verified manifest for tagging (bounded in entries and bytes, oldest dropped first)."""
        with self._cache_lock:
            cache = self._manifest_cache
            cache[(repository, digest)] = (data, media_type)
            cache.move_to_end((repository, digest))
            while len(cache) > _MANIFEST_CACHE or (
                len(cache) > 1 and sum(len(d) for d, _ in cache.values()) > _MANIFEST_CACHE_BYTES
            ):
                cache.popitem(last=False)

    def _note_absent(self, repository: str, digest: str) -> None:
        """Remember that a blob was just found absent, for the upload that usually follows (bounded)."""
        with self._cache_lock:
            self._absent[(repository, digest)] = None
            while len(self._absent) > _ABSENT:
                self._absent.popitem(last=False)

    def _take_absent(self, repository: str, digest: str) -> bool:
        """Whether the blob was found absent since the last upload asked (each answer is used once)."""
        with self._cache_lock:
            if (repository, digest) not in self._absent:
                return False
            del self._absent[(repository, digest)]
            return True

    def _cached_manifest(self, repository: str, digest: str) -> tuple[bytes, str] | None:
        with self._cache_lock:
            return self._manifest_cache.get((repository, digest))


def _children(descriptor: Descriptor, data: bytes) -> list[Descriptor]:
    """The children of a manifest we verified against its descriptor ([] when it does not parse as one)."""
    try:
        return successors(descriptor, data)
    except (ValueError, TypeError, AttributeError):
        return []
