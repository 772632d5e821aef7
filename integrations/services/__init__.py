"""Every write of the integrations app, in seven parts, one module each:

- ``endpoints``: webhook endpoints (create, update, rotate and end a rotation of the signing secret)
  and a ``webhook.test`` event sent to one (``endpoint_send_test``);
- ``subscriptions``: which event types an organization's endpoints want (``subscribed_event_types``,
  cached, forgotten on every endpoint change by ``subscriptions_changed``);
- ``publishing``: events made now and their deliveries handed to the workers on commit
  (``event_publish``, and ``event_body``, the bytes every delivery of an event carries);
- ``outbox``: events recorded on the send path (``event_record``) and made by the ``webhooks`` worker
  (``outbox_drain``);
- ``deliveries``: one attempt at a delivery (``delivery_attempt``: signed, in order per object, backoff,
  an endpoint failing for ``RETRY_FOR`` switched off), the due sweep and a redelivery;
- ``retention``: the webhook history forgotten after ``WEBHOOK_RETENTION_DAYS``;
- ``api_keys``: API keys (create, revoke, authenticate).

Import from here: ``from integrations.services import endpoint_create``.
"""

from __future__ import annotations

from .api_keys import KEY_PREFIX, LAST_USED_EVERY, api_key_authenticate, api_key_create, api_key_revoke
from .deliveries import (
    ATTEMPT_LEASE,
    JUMPS_THE_QUEUE,
    LAST_RESPONSE,
    RETRY_FOR,
    deliveries_due,
    delivery_attempt,
    delivery_redeliver,
)
from .endpoints import (
    SECRET_GRACE,
    endpoint_create,
    endpoint_rotate_secret,
    endpoint_rotation_end,
    endpoint_send_test,
    endpoint_update,
)
from .outbox import DRAIN_DELAY, DRAIN_GATE, DRAIN_GATE_TTL, OUTBOX_BATCH, event_record, outbox_drain
from .publishing import event_body, event_publish
from .retention import webhook_history_purge
from .subscriptions import SUBSCRIPTIONS_LOCAL_TTL, SUBSCRIPTIONS_TTL, subscribed_event_types, subscriptions_changed

__all__ = [
    "ATTEMPT_LEASE",
    "DRAIN_DELAY",
    "DRAIN_GATE",
    "DRAIN_GATE_TTL",
    "JUMPS_THE_QUEUE",
    "KEY_PREFIX",
    "LAST_RESPONSE",
    "LAST_USED_EVERY",
    "OUTBOX_BATCH",
    "RETRY_FOR",
    "SECRET_GRACE",
    "SUBSCRIPTIONS_LOCAL_TTL",
    "SUBSCRIPTIONS_TTL",
    "api_key_authenticate",
    "api_key_create",
    "api_key_revoke",
    "deliveries_due",
    "delivery_attempt",
    "delivery_redeliver",
    "endpoint_create",
    "endpoint_rotate_secret",
    "endpoint_rotation_end",
    "endpoint_send_test",
    "endpoint_update",
    "event_body",
    "event_publish",
    "event_record",
    "outbox_drain",
    "subscribed_event_types",
    "subscriptions_changed",
    "webhook_history_purge",
]
