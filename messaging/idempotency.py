"""``Idempotency-Key`` for API sends, with Stripe's semantics.

The same key with the same request within 24 hours returns the first response and does
nothing else; the same key with a different request is refused (422); a duplicate that
arrives while the first is still being worked on is told to retry (409).

The key is *claimed* by inserting its row in a transaction of its own, committed before the
work starts: PostgreSQL's unique index makes every concurrent duplicate wait for that insert
and then fail it, so exactly one request does the work however many arrive at once.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ServiceError
from core.fastsql import insert

# The same key rules and request fingerprint as every other write of the API (core/idempotency.py).
from core.idempotency import key_validate as idempotency_key_validate
from interactions.models import Organization

from .models import IdempotencyKey, Message

KEY_TTL = timedelta(hours=24)
# A claim still in flight after this long belongs to a request that died; another may take over.
ABANDONED_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class Claim:
    row: IdempotencyKey
    replay: bool  # True: the work was done before; answer with ``row.response_code``/``response_body``


def idempotency_key_claim(
    *, organization: Organization, key: str, fingerprint: str, now: datetime | None = None
) -> Claim:
    """Take ``key`` for this request, or say why not.

    Returns a fresh claim (do the work, then ``idempotency_key_complete``), or a replay of the
    finished first request. Raises ``ServiceError`` 422 when the key was used for a different
    request, 409 while the first request is still in flight.
    """
    key = idempotency_key_validate(key)
    for _ in range(4):  # the holder may release the key between our insert and our read
        now = now or timezone.now()
        try:
            # One INSERT in the common case: no text can hold a key that has no row (the purge and
            # ``_expired_key_retire`` let go of it with the row), so there is nothing to clear.
            # Outside a transaction (the API view) the INSERT commits on its own; inside one (a
            # test, a caller's own transaction) a savepoint keeps a duplicate from spoiling it.
            with transaction.atomic() if transaction.get_connection().in_atomic_block else contextlib.nullcontext():
                row = IdempotencyKey(
                    organization=organization, key=key, fingerprint=fingerprint, created_at=now, locked_at=now
                )
                insert(row)  # one INSERT (core/fastsql.py)
            return Claim(row=row, replay=False)
        except IntegrityError:
            pass
        held = IdempotencyKey.objects.filter(organization=organization, key=key).first()
        if held is None:
            continue
        row = held
        if row.created_at < now - KEY_TTL:
            _expired_key_retire(row)
            continue
        if row.fingerprint != fingerprint:
            raise ServiceError(
                "idempotency_key_reused",
                "This Idempotency-Key was already used for a different request in the last 24 hours. "
                "Send a new key for a new text.",
                field="Idempotency-Key",
                status=422,
            )
        if row.status == IdempotencyKey.Status.DONE:
            return Claim(row=row, replay=True)
        if row.locked_at < now - ABANDONED_AFTER:
            taken = IdempotencyKey.objects.filter(
                pk=row.pk, status=IdempotencyKey.Status.IN_FLIGHT, locked_at=row.locked_at
            ).update(locked_at=now)
            if taken:
                row.locked_at = now
                return Claim(row=row, replay=False)
        break
    raise ServiceError(
        "idempotency_key_in_flight",
        "A request with this Idempotency-Key is still being processed. Retry in a second to get its result.",
        field="Idempotency-Key",
        status=409,
        retry_after=1,
    )


def _expired_key_retire(row: IdempotencyKey) -> None:
    """A key used more than 24 hours ago names a new request now: its row goes, and the text sent
    under it lets go of it (the text's own unique index would refuse the new one)."""
    with transaction.atomic():
        if IdempotencyKey.objects.filter(pk=row.pk, created_at=row.created_at).delete()[0]:
            Message.objects.filter(organization_id=row.organization_id, idempotency_key=row.key).update(
                idempotency_key=None
            )


def idempotency_key_complete(
    *, claim: Claim, response_code: int, response_body: Any, message: Message | None = None
) -> None:
    """Store the response to replay for this key (call it inside the transaction that did the work)."""
    IdempotencyKey.objects.filter(pk=claim.row.pk).update(
        status=IdempotencyKey.Status.DONE,
        response_code=response_code,
        response_body=response_body,
        message=message,
    )


def idempotency_key_release(*, claim: Claim) -> None:
    """Give the key back (nothing was done: invalid input or an unexpected error), so a retry may use it."""
    IdempotencyKey.objects.filter(pk=claim.row.pk, status=IdempotencyKey.Status.IN_FLIGHT).delete()


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete keys older than 24 hours; returns how many."""
    cutoff = (now or timezone.now()) - KEY_TTL
    with transaction.atomic():
        expired = IdempotencyKey.objects.filter(created_at__lt=cutoff)
        # The texts sent under them let go of the keys too, so a key without a row is free
        # (``idempotency_key_claim`` then needs one INSERT and nothing else).
        Message.objects.filter(
            pk__in=expired.filter(message__isnull=False).values("message_id"), idempotency_key__isnull=False
        ).update(idempotency_key=None)
        return expired.delete()[0]
