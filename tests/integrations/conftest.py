from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.api.conftest import api, manager_api, open_all_day, sendable  # noqa: F401  (fixtures)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An integrator's endpoint on 127.0.0.1: records every POST, answers the scripted status codes (then 200)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    always: int | None = None  # answer this to everything (an endpoint that is down)
    reply: bytes | None = None  # the body of every answer (default: "ok" or "receiver is down")
    delay: float = 0.0  # seconds each answer takes (a hanging receiver)
    in_flight: int = 0  # POSTs received and not yet answered

    @property
    def accepted(self) -> list[Received]:
        return [r for r, code in zip(self.requests, self.codes, strict=True) if 200 <= code < 300]

    codes: list[int] = field(default_factory=list)

    def types(self, *, accepted_only: bool = False) -> list[str]:
        return [r.json["type"] for r in (self.accepted if accepted_only else self.requests)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if state.delay:
                with lock:
                    state.in_flight += 1
                time.sleep(state.delay)
                with lock:
                    state.in_flight -= 1
            with lock:
                code = state.always or (state.answers.pop(0) if state.answers else 200)
                state.requests.append(Received(headers=dict(self.headers), body=body))
                state.codes.append(code)
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(state.reply if state.reply is not None else b"ok" if code < 300 else b"receiver is down")

        def log_message(self, *args):  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/textdesk"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def dns(settings):
    """The webhook resolver answers what the test scripts (``dns.script(host, [addresses], ...)``)."""
    from tests.integrations.dns import DNS

    DNS.answers.clear()
    DNS.asked.clear()
    settings.WEBHOOKS_RESOLVER = "tests.integrations.dns.resolve"
    yield DNS
    DNS.answers.clear()
    DNS.asked.clear()
