"""How a webhook is signed: Standard Webhooks (https://www.standardwebhooks.com/, the spec's
"Signature scheme: symmetric").

Every delivery carries ``webhook-id`` (the event's id, the same on every retry), ``webhook-timestamp``
(Unix seconds) and ``webhook-signature: v1,<base64>``: HMAC-SHA256 over ``"<id>.<timestamp>.<raw body>"``
keyed with the secret's bytes — the base64 after ``whsec_``, decoded as the spec's libraries
decode it — so the official ``standardwebhooks`` library, in any language, verifies a delivery with
the secret as Textdesk showed it (tests/integrations/test_standard_webhooks.py). While a rotated-out
secret is in its grace period, a second ``v1,…`` (space-separated) is signed with it. Receivers refuse a
timestamp more than ``REPLAY_WINDOW_SECONDS`` from their clock.

The older ``Textdesk-Signature: t=<unix time>,v1=<hex>`` (HMAC keyed with the secret's text) is still
sent beside them for receivers written before; it is deprecated.
"""

from __future__ import annotations

import base64
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


# --- Standard Webhooks ------------------------------------------------------------------------

SECRET_PREFIX = "whsec_"


def is_standard_secret(secret: str) -> bool:
    """Whether the text after ``whsec_`` is base64 (secrets made since Standard Webhooks)."""
    text = secret.removeprefix(SECRET_PREFIX)
    try:
        return bool(base64.b64decode(text + "=" * (-len(text) % 4), validate=True))
    except ValueError:
        return False


def standard_key(secret: str) -> bytes:
    """The HMAC key of a secret: for a Standard Webhooks secret the bytes its base64 encodes, as every
    library reads it. A secret made before (URL-safe text, which the libraries can't read) keys with
    its whole text, as ``Textdesk-Signature`` always did; its holder gives the libraries
    ``whsec_`` + base64 of that text (README "Webhooks"), or rotates for a new secret."""
    if is_standard_secret(secret):
        text = secret.removeprefix(SECRET_PREFIX)
        return base64.b64decode(text + "=" * (-len(text) % 4))
    return secret.encode()


def standard_signature(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(standard_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def standard_headers(*, secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; one ``v1,…`` per secret, space-separated."""
    signatures = " ".join(standard_signature(secret=s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets)
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures}
