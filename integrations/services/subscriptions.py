"""Which event types an organization's endpoints want: cached, and forgotten on every endpoint change."""

from __future__ import annotations

import contextlib
import logging
import time

from django.core.cache import cache
from django.db import transaction

from ..models import WebhookEndpoint

logger = logging.getLogger(__name__)

# Every text's status changes ask "does anybody want this event?"; most organizations have no
# endpoint. The answer is cached (Redis in production, shared by every process) and forgotten
# whenever an endpoint is saved or deleted (receivers.py), right away and again after commit so a
# read racing the commit cannot keep an old answer. The TTL bounds any answer kept by a write that
# bypassed the model's signals (a queryset ``update``): a positive answer is always checked against
# the database, so only a new subscription could be missed, for at most this long.
#
# Each process also keeps the answer for ``SUBSCRIPTIONS_LOCAL_TTL``: a busy sender asks hundreds of
# times a second, and this spares each ask a round trip. The process that changes an endpoint
# forgets its own copy at once; another process may go on with its copy for at most that long, so
# an endpoint registered less than a second ago may miss events of that second (the sync feed,
# ``?updated_since``, has them).
SUBSCRIPTIONS_TTL = 60  # seconds
SUBSCRIPTIONS_LOCAL_TTL = 1.0  # seconds
_local_subscriptions: dict[int, tuple[float, frozenset[str]]] = {}


def _subscriptions_key(organization_id: int) -> str:
    return f"webhooks:subscribed:{organization_id}"


def subscribed_event_types(organization_id: int) -> frozenset[str]:
    """The event types at least one active endpoint of the organization wants."""
    local = _local_subscriptions.get(organization_id)
    if local is not None and local[0] > time.monotonic():
        return local[1]
    types = _subscribed_event_types_shared(organization_id)
    _local_subscriptions[organization_id] = (time.monotonic() + SUBSCRIPTIONS_LOCAL_TTL, types)
    return types


def _subscribed_event_types_shared(organization_id: int) -> frozenset[str]:
    key = _subscriptions_key(organization_id)
    try:
        cached = cache.get(key)
    except Exception as exc:  # the cache is unreachable: ask the database
        logger.warning("webhook subscriptions not cached: the cache is unreachable (%s)", type(exc).__name__)
        cached = None
    if cached is not None:
        return cached
    rows = WebhookEndpoint.objects.filter(organization_id=organization_id, active=True).values_list("events", flat=True)
    types = frozenset(event for events in rows for event in events)
    with contextlib.suppress(Exception):
        cache.set(key, types, SUBSCRIPTIONS_TTL)
    return types


def subscriptions_changed(organization_id: int) -> None:
    """Forget the cached subscriptions of the organization, now and once the change is committed."""
    key = _subscriptions_key(organization_id)

    def forget() -> None:
        _local_subscriptions.pop(organization_id, None)
        try:
            cache.delete(key)
        except Exception as exc:
            logger.warning("webhook subscriptions cache not cleared (%s); it expires in %ss", exc, SUBSCRIPTIONS_TTL)

    forget()
    transaction.on_commit(forget)
