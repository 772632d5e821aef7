"""Webhook destinations (SSRF): resolved once, checked, and connected to at exactly the checked address.

The host names are answered by a scripted resolver through the ``WEBHOOKS_RESOLVER`` seam (the ``dns``
fixture), never by patching the socket module.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from integrations.destinations import NO_ANSWER, address_blocked, destination_post, destination_refusal
from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.services import endpoint_create, event_publish

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"  # a public address; nothing a test needs answers there

# IPv6 addresses that carry a private IPv4 inside: each must be refused like the IPv4 itself.
EMBEDDING_A_PRIVATE_IPV4 = {
    "2002:7f00:1::": "6to4 of 127.0.0.1",
    "2002:a00:1::": "6to4 of 10.0.0.1",
    "2002:a9fe:a9fe::1": "6to4 of 169.254.169.254 (cloud metadata)",
    "2001:0:4136:e378:8000:63bf:80ff:fffe": "Teredo, client 127.0.0.1",
    "64:ff9b::7f00:1": "NAT64 of 127.0.0.1",
    "64:ff9b::a9fe:a9fe": "NAT64 of 169.254.169.254",
    "64:ff9b:1::a00:1": "local-use NAT64 (refused whole)",
    "::ffff:127.0.0.1": "IPv4-mapped 127.0.0.1",
    "::ffff:c0a8:101": "IPv4-mapped 192.168.1.1",
    "::7f00:1": "IPv4-compatible 127.0.0.1",
}


@pytest.mark.parametrize("address", list(EMBEDDING_A_PRIVATE_IPV4), ids=list(EMBEDDING_A_PRIVATE_IPV4.values()))
def test_an_ipv6_address_that_carries_a_private_ipv4_is_refused(settings, dns, address):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    dns.script("hooks.example.com", [PUBLIC, address])

    assert address_blocked(address)
    assert "private" in destination_refusal(f"https://[{address}]/hook")
    assert "private" in destination_refusal("https://hooks.example.com/hook")  # one bad address of two


@pytest.mark.parametrize("address", ["2002:808:808::1", "2606:4700:4700::1111", "8.8.8.8", "::ffff:8.8.8.8"])
def test_public_addresses_are_accepted_whatever_their_form(settings, address):
    settings.WEBHOOKS_ALLOW_PRIVATE = False

    assert not address_blocked(address)
    assert destination_refusal(f"https://[{address}]/hook" if ":" in address else f"https://{address}/hook") is None


def test_the_6to4_address_of_loopback_is_refused_through_the_api(manager_api, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False

    response = manager_api.post(
        "/api/v1/webhook-endpoints/", {"url": "https://[2002:7f00:1::]/", "events": ["message.sent"]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["field"] == "url" and "private" in response.json()["detail"]
    assert not WebhookEndpoint.objects.exists()


# --- connecting to the checked address ---------------------------------------------------------------------


@dataclass
class Listener:
    """A TCP port on 127.0.0.1 that never accepts: a connection made to it waits in the backlog, where it is seen."""

    sock: socket.socket

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def connections(self) -> int:
        self.sock.setblocking(False)
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1


@pytest.fixture
def listener() -> Iterator[Listener]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield Listener(sock)
    sock.close()


def test_a_name_that_rebinds_to_loopback_after_the_check_is_never_connected_to_there(settings, dns, listener):
    # DNS rebinding: the name answers a public address to the check and 127.0.0.1 a moment later. The
    # name is localhost so that anything resolving it again (the system's resolver) would land on
    # 127.0.0.1, where the listener sees the connection.
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    settings.WEBHOOKS_TIMEOUT = (0.5, 0.5)
    dns.script("localhost", [PUBLIC], ["127.0.0.1"])

    answer = destination_post(f"https://localhost:{listener.port}/hook", body=b"{}", headers={})

    assert listener.connections() == 0
    assert dns.asked == ["localhost"]  # resolved once, for the check and the connection both
    assert (answer.status, answer.error) == (None, NO_ANSWER)


@dataclass
class Silent:
    """Ports on 127.0.0.1 in every state a port scan tells apart."""

    closed: int
    hangs_up: int
    says_nothing: int
    threads: list[threading.Thread] = field(default_factory=list)


@pytest.fixture
def ports() -> Iterator[Silent]:
    def serve(sock: socket.socket, hang_up: bool) -> None:
        held = []
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                break
            if hang_up:
                conn.close()
            else:
                held.append(conn)
        for conn in held:
            conn.close()

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    servers = [socket.socket(), socket.socket()]
    for sock in servers:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
    state = Silent(closed_port, servers[0].getsockname()[1], servers[1].getsockname()[1])
    for sock, hang_up in zip(servers, (True, False), strict=True):
        thread = threading.Thread(target=serve, args=(sock, hang_up), daemon=True)
        thread.start()
        state.threads.append(thread)
    yield state
    for sock in servers:
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def test_the_delivery_log_reads_the_same_for_a_closed_port_an_open_one_and_a_plain_http_server(
    settings, org, ports, receiver, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_TIMEOUT = (0.5, 0.5)
    plain_http = int(receiver.url.split(":")[2].split("/")[0])
    urls = {
        "closed": f"https://127.0.0.1:{ports.closed}/hook",
        "hangs up": f"https://127.0.0.1:{ports.hangs_up}/hook",
        "says nothing": f"https://127.0.0.1:{ports.says_nothing}/hook",
        "plain http": f"https://127.0.0.1:{plain_http}/hook",
    }
    for url in urls.values():
        endpoint_create(organization=org, url=url, events=["message.queued"])

    with django_capture_on_commit_callbacks(execute=True):
        event_publish(organization_id=org.pk, type="message.queued", object_type="message", object_id=1, data=dict)

    errors = {name: WebhookDelivery.objects.get(endpoint__url=url).last_error for name, url in urls.items()}
    assert errors == dict.fromkeys(urls, NO_ANSWER)
    assert receiver.requests == []


# --- TLS to a pinned address still checks the name ------------------------------------------------------------


@dataclass
class TLSReceiver:
    port: int
    ca_bundle: str
    server_names: list[str | None] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[TLSReceiver]:
    """An https receiver on 127.0.0.1 whose self-signed certificate names webhooks.test only."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed (it makes the test's certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=webhooks.test",
         "-addext", "subjectAltName=DNS:webhooks.test", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = TLSReceiver(port=server.server_address[1], ca_bundle=str(cert))
    context.sni_callback = lambda sock, name, ctx: state.server_names.append(name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.hosts.append(self.headers["Host"])
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server.RequestHandlerClass = Handler
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def test_tls_to_the_pinned_address_checks_the_certificate_for_the_name_and_sends_it_as_sni(settings, dns, tls_receiver):
    settings.WEBHOOKS_CA_BUNDLE = tls_receiver.ca_bundle
    settings.WEBHOOKS_TIMEOUT = (2, 2)
    dns.script("webhooks.test", ["127.0.0.1"])
    dns.script("other.test", ["127.0.0.1"])
    url = f"https://webhooks.test:{tls_receiver.port}/hook"

    named = destination_post(url, body=b"{}", headers={"Content-Type": "application/json"})
    other = destination_post(f"https://other.test:{tls_receiver.port}/hook", body=b"{}", headers={})
    settings.WEBHOOKS_CA_BUNDLE = ""  # certifi's bundle does not trust the test's certificate
    untrusted = destination_post(url, body=b"{}", headers={})

    assert (named.status, named.excerpt, named.error) == (200, "ok", "")
    assert tls_receiver.server_names[0] == "webhooks.test"
    assert tls_receiver.hosts == [f"webhooks.test:{tls_receiver.port}"]  # only the first got through
    assert (other.status, other.error) == (None, NO_ANSWER)  # a certificate for another name
    assert (untrusted.status, untrusted.error) == (None, NO_ANSWER)
