"""The broker transport (config/broker.py): kombu's Redis transport, one client per channel."""

from __future__ import annotations

from django.conf import settings

from config import broker
from config.celery import app


def test_a_redis_broker_url_uses_the_transport_that_keeps_its_client():
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    with app.connection_for_write() as connection:
        assert connection.transport_cls == "config.broker:Transport"
        channel = connection.transport.create_channel(connection.connection)
        try:
            assert isinstance(channel, broker.Channel)
            with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
                assert first is second  # kombu's own builds a new client each time
            given = object()
            with channel.conn_or_acquire(given) as client:
                assert client is given
        finally:
            channel.close()


def test_messages_go_through_it_and_come_back():
    """Through the suite's Redis (both configurations have one), with the shared client."""
    with app.connection_for_write() as connection:
        queue = connection.SimpleQueue("textdesk-broker-test")
        try:
            for n in range(3):
                queue.put({"n": n})
            got = [queue.get(timeout=2) for _ in range(3)]
            for message in got:
                message.ack()
            # All three, each once (the order kombu hands them back in is not this test's business).
            assert sorted(message.payload["n"] for message in got) == [0, 1, 2]
        finally:
            queue.clear()
            queue.close()
