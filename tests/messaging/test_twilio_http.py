"""The SDK's HTTP client as the backend configures it (messaging/backends/twilio.py).

Every request is the one ``TwilioHttpClient`` makes through ``requests``: the backend only adds
the (connect, read) timeout and points ``*.twilio.com`` at ``TWILIO_API_BASE_URL``. The SDK end
to end is in test_twilio_backend.py (the real SDK against the Twilio-compatible server).
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


def test_a_send_is_the_request_the_sdk_s_client_builds():
    auth = ("AC123", "secret token")
    ours, our_timeout, our_verify, our_answer = _sent(
        lambda c: c.request("POST", URL, data=DATA, headers=HEADERS, auth=auth)
    )
    sdk, sdk_timeout, sdk_verify, sdk_answer = _sent(
        lambda c: TwilioHttpClient.request(c, "POST", URL, data=DATA, headers=HEADERS, auth=auth)
    )
    assert (ours.method, ours.url) == (sdk.method, sdk.url) == ("POST", URL)
    assert dict(ours.headers) == dict(sdk.headers)
    assert ours.headers["Authorization"].startswith("Basic ")
    assert ours.body == sdk.body
    assert (our_timeout, our_verify) == (sdk_timeout, sdk_verify) and our_timeout == (5.0, 10.0)
    assert (our_answer.status_code, our_answer.text) == (sdk_answer.status_code, sdk_answer.text)
    assert (our_answer.status_code, our_answer.text) == (201, '{"sid": "SM1", "status": "queued"}')


def test_the_base_url_takes_the_place_of_twilio_s_host():
    client = _HttpClient(base_url="http://127.0.0.1:9/fake", timeout=10.0)
    adapter = Capture()
    client.session.mount("http://", adapter)
    client.request("POST", URL, data=DATA, headers=HEADERS, auth=("a", "b"))
    [(request, _timeout, _verify)] = adapter.sent
    assert request.url == "http://127.0.0.1:9/fake/2010-04-01/Accounts/AC123/Messages.json"
