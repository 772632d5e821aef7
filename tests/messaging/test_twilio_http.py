"""The worker's send path builds the request ``requests`` would build (messaging/backends/twilio.py).

``_HttpClient._form_post`` skips ``requests.Session``'s per-request machinery for the one call a
send makes (a form POST); what goes on the wire must not change: the same URL, headers and body,
through the same adapter. The SDK end to end is in test_twilio_backend.py (the real SDK against
the Twilio-compatible server).
"""

from __future__ import annotations

import requests
from requests.adapters import BaseAdapter
from twilio.http.http_client import TwilioHttpClient

from messaging.backends.twilio import _HttpClient

URL = "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
HEADERS = {
    "User-Agent": "twilio-python/9 (Linux x86_64) Python/3.11",
    "X-Twilio-Client": "python-9",
    "Accept-Charset": "utf-8",
    "Content-Type": "application/x-www-form-urlencoded",
    "Accept": "application/json",
}
DATA = {
    "To": "+15125550142",
    "From": "+15125550100",
    "Body": "Hi Ana — your unit’s ready: 50% off & more?\nhttps://example.com/u/Ab9 ✓",
    "StatusCallback": "https://app.example.com/webhooks/twilio/status/",
    "MediaUrl": ["https://a.example/1.png", "https://a.example/2.png"],
    "ValidityPeriod": 14400,
    "SmartEncoded": None,
}


class Capture(BaseAdapter):
    def __init__(self):
        super().__init__()
        self.sent = []

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        self.sent.append((request, timeout, verify))
        response = requests.Response()
        response.status_code = 201
        response._content = b'{"sid": "SM1", "status": "queued"}'
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        response.request = request
        response.url = request.url
        return response

    def close(self):
        pass


def _sent(call) -> tuple[requests.PreparedRequest, object, object, object]:
    client = _HttpClient(timeout=10.0)
    adapter = Capture()
    client.session.mount("https://", adapter)
    answer = call(client)
    [(request, timeout, verify)] = adapter.sent
    return request, timeout, verify, answer


def test_the_send_s_post_is_the_request_requests_builds():
    auth = ("AC123", "secret token")
    lean, lean_timeout, lean_verify, lean_answer = _sent(
        lambda c: c.request("POST", URL, data=DATA, headers=HEADERS, auth=auth)
    )
    full, full_timeout, full_verify, full_answer = _sent(
        lambda c: TwilioHttpClient.request(c, "POST", URL, data=DATA, headers=HEADERS, auth=auth)
    )
    assert (lean.method, lean.url) == (full.method, full.url)
    assert dict(lean.headers) == dict(full.headers)
    assert lean.body == (full.body.encode() if isinstance(full.body, str) else full.body)
    assert (lean_timeout, lean_verify) == (full_timeout, full_verify) and lean_timeout == (5.0, 10.0)
    assert (
        (lean_answer.status_code, lean_answer.text)
        == (full_answer.status_code, full_answer.text)
        == (
            201,
            '{"sid": "SM1", "status": "queued"}',
        )
    )


def test_anything_else_goes_through_requests():
    client = _HttpClient(timeout=10.0)
    assert client._plain_form_post("POST", URL, data=DATA, headers=HEADERS, auth=("a", "b"))
    assert not client._plain_form_post("GET", URL, params={"To": "+1"}, headers=HEADERS, auth=("a", "b"))
    json_headers = {**HEADERS, "Content-Type": "application/json"}
    assert not client._plain_form_post("POST", URL, data=DATA, headers=json_headers, auth=("a", "b"))
    assert not client._plain_form_post("POST", URL + "?x=1", data=DATA, headers=HEADERS, auth=("a", "b"))
    client.proxy = {"https": "http://proxy:3128"}
    assert not client._plain_form_post("POST", URL, data=DATA, headers=HEADERS, auth=("a", "b"))
