"""Prints each text to stdout instead of sending it (the ``make run`` default)."""

from __future__ import annotations

import sys
import threading
import uuid

from .base import BaseSmsBackend, SendResult


class ConsoleBackend(BaseSmsBackend):
    def __init__(self, *args, stream=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stream = stream or sys.stdout
        self._lock = threading.RLock()

    def send(self, message) -> SendResult:
        sid = f"SMconsole{uuid.uuid4().hex[:24]}"
        with self._lock:
            self.stream.write(
                f"--- SMS {sid}\nFrom: {message.from_number or '(messaging service)'}\nTo: {message.to_number}\n"
                f"{message.body}\n---\n"
            )
            self.stream.flush()
        return SendResult(sid=sid, status="sent")
