"""``Idempotency-Key`` on every POST and PATCH of the API, with Stripe's semantics.

The same key with the same request (method, path, body) within 24 hours answers the first
response again (``Idempotent-Replayed: true``) and does nothing else; the same key with a
different request is refused with 422; a duplicate that arrives while the first is still being
worked on is told to retry (409, ``Retry-After: 1``). Keys belong to the caller's organization.

Only a request that was served is remembered (2xx, or a refusal of the domain such as
``quiet_hours``: the outcome of that request). Invalid input, a conflict, a missing permission
or a server error let the key go, so a corrected retry may use it — as Stripe does.

Claims live in the cache (Redis in production, so every process and container sees the same
key; an atomic ``add`` makes exactly one of any number of concurrent duplicates the worker).
``POST /api/v1/messages/`` keeps its own keys in the database (``messaging.idempotency``): the
text and its stored response commit in one transaction there.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from django.core.files.uploadedfile import UploadedFile
from django.http import QueryDict

from .errors import ServiceError

KEY_TTL_SECONDS = 24 * 3600
# A claim still in flight after this long belongs to a request that died; another may take over.
IN_FLIGHT_SECONDS = 60
MAX_KEY_LENGTH = 255
METHODS = frozenset({"POST", "PATCH"})


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any
    headers: dict[str, str]


class Replay(Exception):
    """The request was answered before: answer ``stored`` again (``OrganizationAPIMixin``)."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("idempotent replay")
        self.stored = stored


def key_validate(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise ServiceError(
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1–{MAX_KEY_LENGTH} printable ASCII characters, for example a UUID.",
            field="Idempotency-Key",
        )
    return key


def _file_digest(upload: UploadedFile) -> dict[str, Any]:
    """An uploaded file by its content: two files of one name but other bytes are other requests."""
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return {"file": upload.name, "size": upload.size, "sha256": digest.hexdigest()}


def _canonical(data: Any) -> Any:
    if isinstance(data, QueryDict):  # a form or multipart body: every value of every field
        return {key: [_canonical(value) for value in data.getlist(key)] for key in data}
    if isinstance(data, UploadedFile):
        return _file_digest(data)
    return data


def fingerprint(*, method: str, path: str, data: Any) -> str:
    """A stable hash of what was asked: the same JSON in any key order gives the same fingerprint;
    an uploaded file counts by its content."""
    canonical = json.dumps([method.upper(), path, _canonical(data)], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _cache_key(organization_id: int, key: str) -> str:
    return "idempotency:" + hashlib.sha256(f"{organization_id}:{key}".encode()).hexdigest()


def claim(*, organization_id: int, key: str, request_fingerprint: str) -> str:
    """Take ``key`` for this request and return its cache key, or raise ``Replay`` / a 409 or 422 refusal."""
    cache = caches["default"]
    cache_key = _cache_key(organization_id, key_validate(key))
    if cache.add(cache_key, {"fingerprint": request_fingerprint, "state": "in_flight"}, IN_FLIGHT_SECONDS):
        return cache_key
    held = cache.get(cache_key)
    if held is None:  # released or expired between our add and our read: take it now
        if cache.add(cache_key, {"fingerprint": request_fingerprint, "state": "in_flight"}, IN_FLIGHT_SECONDS):
            return cache_key
        held = cache.get(cache_key) or {}
    if held.get("fingerprint") != request_fingerprint:
        raise ServiceError(
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different request in the last 24 hours. "
            "Send a new key for a new request.",
            field="Idempotency-Key",
            status=422,
        )
    if held.get("state") == "done":
        raise Replay(StoredResponse(status=held["status"], body=held["body"], headers=held.get("headers", {})))
    raise ServiceError(
        "idempotency_key_in_flight",
        "A request with this Idempotency-Key is still being processed. Retry in a second to get its result.",
        field="Idempotency-Key",
        status=409,
        retry_after=1,
    )


def complete(*, cache_key: str, request_fingerprint: str, stored: StoredResponse) -> None:
    """Remember the response for 24 hours, to answer again."""
    value = {
        "fingerprint": request_fingerprint,
        "state": "done",
        "status": stored.status,
        "body": stored.body,
        "headers": stored.headers,
    }
    caches["default"].set(cache_key, value, KEY_TTL_SECONDS)


def release(*, cache_key: str) -> None:
    """Give the key back (nothing was done), so a corrected retry may use it."""
    caches["default"].delete(cache_key)
