"""kombu's Redis transport, publishing through one Redis client per channel.

kombu's Redis channel builds a new ``redis.Redis`` client for every message it publishes
(``Channel.conn_or_acquire`` without a client), and building one fills a dict of ~170 response
callbacks: about a sixth of what a Send API request's Celery publish costs (bench/README.md). A
``redis.Redis`` client holds no connection of its own (it borrows one from the channel's pool for
each command) and is safe to share, so the channel keeps one. Everything else is kombu's.
``CELERY_BROKER_TRANSPORT`` names this class when the broker URL is a plain ``redis://`` one
(config/settings.py); other schemes (``rediss://``, ``sentinel://``) keep kombu's own transport.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import cached_property

from kombu.transport import redis


class Channel(redis.Channel):
    @cached_property
    def _shared_client(self):
        return self._create_client()

    @contextmanager
    def conn_or_acquire(self, client=None):
        yield client or self._shared_client


class Transport(redis.Transport):
    Channel = Channel
