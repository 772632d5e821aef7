"""Keeps texts in ``outbox`` for tests, like Django's locmem email backend."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from .base import BaseSmsBackend, LineTypeResult, LineTypeUnsupported, SendResult

if TYPE_CHECKING:
    from messaging.models import Message

outbox: list = []
# Line types the tests give numbers (E.164 -> one of ``LINE_TYPES``); a number not here cannot be
# looked up, so tests that do not care see no lookup at all. Real lookups are tested through the
# Twilio backend against tests/twilio_server.py.
line_types: dict[str, str] = {}


class LocmemBackend(BaseSmsBackend):
    paid = False  # nothing leaves the process

    def send(self, message: Message, *, media_urls: Sequence[str] = ()) -> SendResult:
        sid = f"SMlocmem{uuid.uuid4().hex[:24]}"
        outbox.append(
            {
                "sid": sid,
                "to": str(message.to_number),
                "from": str(message.from_number or ""),
                "body": message.body,
                "message_id": message.pk,
                "media_urls": list(media_urls),
            }
        )
        return SendResult(sid=sid, status="sent")

    def lookup_line_type(self, number: str) -> LineTypeResult:
        if str(number) not in line_types:
            raise LineTypeUnsupported("no line type set for this number in the locmem backend")
        return LineTypeResult(line_type=line_types[str(number)], carrier="Locmem Wireless")

    def lookup(
        self, message: Message, *, since: datetime | None = None, exclude_sids: frozenset[str] = frozenset()
    ) -> SendResult | None:
        for sent in outbox:
            if sent["message_id"] == message.pk and sent["sid"] not in exclude_sids:
                return SendResult(sid=sent["sid"], status="sent")
        return None
