"""The Celery broker: kombu's own Redis transport, messages through it and back."""

from __future__ import annotations

from django.conf import settings

from config.celery import app


def test_a_redis_broker_url_uses_kombus_own_transport():
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    assert not hasattr(settings, "CELERY_BROKER_TRANSPORT")
    with app.connection_for_write() as connection:
        assert connection.transport_cls == "redis"


def test_messages_go_through_it_and_come_back():
    """Through the suite's Redis (both configurations have one)."""
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
