"""The backend contract: ``send(message)`` returns a ``SendResult`` or raises ``SendError``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from messaging.models import Message


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str = "sent"  # the provider's first status: "queued"/"accepted"/"sent" all mean "it has it"


class SendError(Exception):
    """A provider refusal or failure, classified so the worker knows what to do.

    - ``permanent``: never retry (invalid number, unsubscribed number…).
    - ``retryable``: nothing reached the provider, or it asked us to slow down: retry later.
    - ``unknown_outcome``: the request may have been accepted (timeout after sending): mark it
      ``needs_reconciliation``, never resend blindly.
    """

    PERMANENT = "permanent"
    RETRYABLE = "retryable"
    UNKNOWN_OUTCOME = "unknown_outcome"

    def __init__(self, message: str, *, kind: str, code: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.code = code
        self.retry_after = retry_after

    @property
    def permanent(self) -> bool:
        return self.kind == self.PERMANENT

    @property
    def retryable(self) -> bool:
        return self.kind == self.RETRYABLE

    @property
    def unknown_outcome(self) -> bool:
        return self.kind == self.UNKNOWN_OUTCOME


class LookupUnsupported(Exception):
    """The backend cannot tell whether it already holds a text (see ``BaseSmsBackend.lookup``)."""


class BaseSmsBackend:
    """Base class for SMS backends; subclasses implement ``send`` and, if they can, ``lookup``."""

    # True when the provider limits how fast one sender may send (``messaging.throttle``).
    throttled = False

    def __init__(self, fail_silently: bool = False, **kwargs) -> None:
        self.fail_silently = fail_silently

    def send(self, message: Message) -> SendResult:  # pragma: no cover - abstract
        raise NotImplementedError("subclasses of BaseSmsBackend must implement send()")

    def sender_for(self, message: Message) -> str:
        """The key the per-sender rate limit counts under."""
        return str(message.from_number or "default")

    def lookup(
        self, message: Message, *, since: datetime, exclude_sids: frozenset[str] = frozenset()
    ) -> SendResult | None:
        """The provider's record of ``message`` if it got it (a send whose answer was lost), else ``None``.

        ``since`` is when the send was claimed; ``exclude_sids`` are SIDs other rows already own.
        Raises ``LookupUnsupported`` when the backend cannot look texts up.
        """
        raise LookupUnsupported(f"{type(self).__name__} cannot look up texts it sent")
