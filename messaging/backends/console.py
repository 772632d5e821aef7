"""Prints each text to stdout instead of sending it (the ``make run`` default)."""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .base import LINE_LANDLINE, LINE_MOBILE, LINE_PAGER, BaseSmsBackend, LineTypeResult, SendResult

if TYPE_CHECKING:
    from messaging.models import Message

# The demo line-type lookup (no provider to ask): a deterministic stand-in, labelled "(demo lookup)"
# wherever it shows. By the last four digits: 09xx a landline, 08xx a pager, anything else a mobile.
# The demo data's own numbers are 01xx–03xx, so every seeded record stays textable.
DEMO_LINE_TYPES = {"09": (LINE_LANDLINE, "Demo Telephone (landline)"), "08": (LINE_PAGER, "Demo Paging")}
DEMO_MOBILE = (LINE_MOBILE, "Demo Wireless")


def demo_line_type(number: str) -> LineTypeResult:
    """The console backend's stand-in for a line-type lookup (see ``DEMO_LINE_TYPES``)."""
    digits = "".join(c for c in str(number) if c.isdigit())
    line_type, carrier = DEMO_LINE_TYPES.get(digits[-4:-2], DEMO_MOBILE)
    return LineTypeResult(line_type=line_type, carrier=carrier, demo=True)


class ConsoleBackend(BaseSmsBackend):
    paid = False  # nothing leaves the process

    def __init__(self, *args: Any, stream: TextIO | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream = stream or sys.stdout
        self._lock = threading.RLock()

    def send(self, message: Message, *, media_urls: Sequence[str] = ()) -> SendResult:
        sid = f"SMconsole{uuid.uuid4().hex[:24]}"
        with self._lock:
            self.stream.write(
                f"--- SMS {sid}\nFrom: {message.from_number or '(messaging service)'}\nTo: {message.to_number}\n"
                f"{message.body}\n" + "".join(f"Picture: {url}\n" for url in media_urls) + "---\n"
            )
            self.stream.flush()
        return SendResult(sid=sid, status="sent")

    def lookup_line_type(self, number: str) -> LineTypeResult:
        return demo_line_type(number)
