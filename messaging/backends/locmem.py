"""Keeps texts in ``outbox`` for tests, like Django's locmem email backend."""

from __future__ import annotations

import uuid

from .base import BaseSmsBackend, SendResult

outbox: list = []


class LocmemBackend(BaseSmsBackend):
    def send(self, message) -> SendResult:
        sid = f"SMlocmem{uuid.uuid4().hex[:24]}"
        outbox.append(
            {
                "sid": sid,
                "to": str(message.to_number),
                "from": str(message.from_number or ""),
                "body": message.body,
                "message_id": message.pk,
            }
        )
        return SendResult(sid=sid, status="sent")

    def lookup(self, message, *, since=None, exclude_sids=frozenset()) -> SendResult | None:
        for sent in outbox:
            if sent["message_id"] == message.pk and sent["sid"] not in exclude_sids:
                return SendResult(sid=sent["sid"], status="sent")
        return None
