"""How a webhook is signed: ``Textdesk-Signature: t=<unix time>,v1=<hex>[,v1=<hex>]``.

``v1`` is HMAC-SHA256, keyed with the endpoint's secret, over ``"<t>.<raw body>"``. While a
rotated-out secret is still in its grace period, a second ``v1`` is signed with it, so a
receiver still holding the old secret keeps verifying. Receivers refuse a ``t`` more than
``REPLAY_WINDOW_SECONDS`` from their clock (README "Webhooks" has the verification code).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Textdesk-Signature"
REPLAY_WINDOW_SECONDS = 300


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(*, secrets: list[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={signature(secret=s, timestamp=timestamp, body=body)}" for s in secrets)])


def signature_valid(
    *, header: str, secret: str, body: bytes, now: float, tolerance: int = REPLAY_WINDOW_SECONDS
) -> bool:
    """What a receiver does (the README's snippet says the same): timestamp fresh and one ``v1`` matching."""
    parts = [part.split("=", 1) for part in header.split(",") if "=" in part]
    timestamps = [value for key, value in parts if key == "t"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or abs(now - int(timestamps[0])) > tolerance:
        return False
    expected = signature(secret=secret, timestamp=int(timestamps[0]), body=body)
    return any(hmac.compare_digest(expected, value) for key, value in parts if key == "v1")
