"""The sending rig shared by the Workers benchmark and the fault-injection run.

A private redis-server (broker and rate limiter), the Twilio-compatible server of the tests
(tests/twilio_server.py) in this process, real ``celery -A config worker`` processes with the
threads pool, and the benchmark database. Texts are written as the outbox rows
``message_queue`` writes (in bulk, so queueing thousands takes seconds) and published to the
broker; then the workers drain them.
"""

from __future__ import annotations

import socket
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

from . import harness as h

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token"


def most_in_one_second(times: list[float]) -> int:
    """The most timestamps in any one-second window ``[t, t + 1)``."""
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while times[start] <= moment - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


class Rig:
    """``redis_url``/``database_url``: use these (the test suite's) instead of a private Redis and
    the benchmark database; a Rig without its own Redis cannot restart it."""

    def __init__(
        self,
        *,
        redis_port: int | None = None,
        redis_url: str | None = None,
        database_url: str | None = None,
        public_base_url: str = "http://127.0.0.1:9",
        settings_module: str = "bench.settings",
    ) -> None:
        self.own_redis = redis_url is None
        self.redis_port = redis_port or h.free_port()
        self.redis_url = redis_url or f"redis://127.0.0.1:{self.redis_port}/0"
        self.database_url = database_url or h.DATABASE_URL
        self.public_base_url = public_base_url
        self.settings_module = settings_module
        self.redis: h.Process | None = None
        self.twilio = None
        self.workers: list[h.Process] = []

    # --- lifecycle ---------------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        assert self.twilio is not None
        return h.production_env(
            redis_url=self.redis_url,
            public_base_url=self.public_base_url,
            SMS_BACKEND="twilio",
            TWILIO_API_BASE_URL=self.twilio.url,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_MESSAGING_SERVICE_SID="",
            DATABASE_URL=self.database_url,
            DJANGO_SETTINGS_MODULE=self.settings_module,
            **extra,
        )

    def start(self) -> Rig:
        from tests.twilio_server import TwilioServer

        if self.own_redis:
            self.redis = h.redis_start(self.redis_port, name=f"redis-{self.redis_port}")
        self.twilio = TwilioServer(
            account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, public_base_url=self.public_base_url
        ).start()
        return self

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop(timeout=15)
        self.workers.clear()
        if self.twilio is not None:
            self.twilio.stop()
        if self.redis is not None:
            self.redis.stop()

    def __enter__(self) -> Rig:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def redis_restart(self, *, down_for: float = 1.0) -> None:
        """Stop the private Redis (its queue is lost: no persistence), wait, start it again."""
        assert self.own_redis and self.redis is not None, "only a private Redis may be restarted"
        self.redis.kill()
        time.sleep(down_for)
        self.redis = h.redis_start(self.redis_port, name=f"redis-{self.redis_port}")

    def worker_start(
        self, *, concurrency: int = 64, name: str = "worker", queues: str | None = None, **env: str
    ) -> h.Process:
        """A ``celery -A config worker`` process with the threads pool (``env``: extra settings).

        ``queues``: consume these instead of the default queue (``-Q``); the node name is the
        process's ``node`` attribute, for remote control (``add_consumer``, ``ping``).
        """
        node = f"{name}-{time.time_ns()}@{socket.gethostname()}"
        worker = h.Process(
            f"celery-{name}",
            [
                h.PYTHON, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING",
                "--pool", "threads", "--concurrency", str(concurrency),
                "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", node,
                *(["-Q", queues] if queues else []),
            ],
            env=self.env(**env),
        ).start()  # fmt: skip
        worker.node = node
        self.workers.append(worker)
        return worker

    # --- texts -------------------------------------------------------------------------------

    def queue(self, org, *, count: int, tag: str, publish: bool = True) -> list[int]:
        """Write ``count`` queued outbox rows (as ``message_queue`` would) and publish their sends."""
        from django.utils import timezone

        from interactions.models import PhoneNumber
        from messaging.models import Message, UnsubscribeLink
        from messaging.segments import measure
        from messaging.services import with_link
        from messaging.tasks import send_message

        phones = list(PhoneNumber.objects.filter(pk__in=org.phone_ids).select_related("lead__facility"))
        existing = set(UnsubscribeLink.objects.filter(organization=org.organization).values_list("number", flat=True))
        UnsubscribeLink.objects.bulk_create(
            UnsubscribeLink(organization=org.organization, number=p.number) for p in phones if p.number not in existing
        )
        links = {str(link.number): link.url for link in UnsubscribeLink.objects.filter(organization=org.organization)}
        now = timezone.now()
        rows = []
        for i in range(count):
            phone = phones[i % len(phones)]
            body = with_link(
                f"Bench {tag} #{i}: your unit at {phone.lead.facility.name} is ready.", links[str(phone.number)]
            )
            size = measure(body)
            rows.append(
                Message(
                    organization=org.organization,
                    direction=Message.Direction.OUTBOUND,
                    lead=phone.lead,
                    phone_number=phone,
                    facility=phone.lead.facility,
                    to_number=phone.number,
                    from_number=phone.lead.facility.sms_sender_number,
                    body=body,
                    status=Message.Status.QUEUED,
                    segments=size.segments,
                    encoding=size.encoding,
                    queued_at=now,
                )
            )
        ids = [m.pk for m in Message.objects.bulk_create(rows, batch_size=1000)]
        self.unpublished = 0
        if publish:
            for pk in ids:
                try:
                    send_message.delay(pk)
                except Exception:  # the broker is down: the row is committed, the sweeper will queue it
                    self.unpublished += 1
        return ids

    def statuses(self, ids: list[int]) -> Counter:
        """Status counts of ``ids`` (consecutive ids from one ``queue`` call: a range, not a huge IN list)."""
        from django.db.models import Count

        from messaging.models import Message

        rows = (
            Message.objects.filter(pk__gte=min(ids), pk__lte=max(ids))
            .values("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        return Counter(dict(rows))

    def wait_done(self, ids: list[int], *, timeout: float, tick=None, step: float = 0.5) -> bool:
        """Wait until none of ``ids`` is queued or sending (``tick`` runs each round, e.g. a sweeper)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if tick is not None:
                tick()
            counts = self.statuses(ids)
            if not counts.get("queued") and not counts.get("sending"):
                return True
            time.sleep(step)
        return False

    # --- what the provider saw -----------------------------------------------------------------

    def send_times_by_sender(self) -> dict[str, list[float]]:
        by_sender: dict[str, list[float]] = defaultdict(list)
        for request in self.twilio.sends():
            by_sender[request.params.get("From", "")].append(request.at)
        return by_sender

    def accepted_by_body(self) -> Counter:
        """How many times the provider accepted (created) each body: >1 is a duplicate text."""
        return Counter(m["body"] for m in self.twilio.created())


@dataclass
class Drain:
    sent: int
    seconds: float  # first to last provider request
    per_second: float
    worst_window: int  # the most sends one sender made in any one-second window
    statuses: Counter
