"""Stored Twilio webhook payloads (tests/fixtures/twilio/*.json), signed like Twilio signs them."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.test import Client
from twilio.request_validator import RequestValidator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "twilio"
STATUS_URL = "/webhooks/twilio/status/"
INBOUND_URL = "/webhooks/twilio/inbound/"


def payload(name: str, **overrides: str) -> dict[str, str]:
    """A stored payload; ``overrides`` replace fields (``Body="stop"``) or, as ``None``, drop them."""
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def sign(path: str, params: dict[str, str], *, base_url: str | None = None) -> str:
    """Twilio's signature for a POST of ``params`` to ``base_url`` (default PUBLIC_BASE_URL) + path."""
    url = (base_url or settings.PUBLIC_BASE_URL).rstrip("/") + path
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)


def post(client: Client, path: str, params: dict[str, str], *, signature: str | None = "sign", **extra):
    """POST form-encoded ``params`` like Twilio; ``signature`` "sign" signs them, None sends none."""
    headers = dict(extra)
    if signature == "sign":
        signature = sign(path, params)
    if signature is not None:
        headers["HTTP_X_TWILIO_SIGNATURE"] = signature
    return client.post(path, data=urlencode(params), content_type="application/x-www-form-urlencoded", **headers)


def post_status(client: Client, name: str, **overrides: str):
    return post(client, STATUS_URL, payload(name, **overrides))


def post_inbound(client: Client, name: str = "inbound_sms", **overrides: str):
    return post(client, INBOUND_URL, payload(name, **overrides))
