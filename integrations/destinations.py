"""Where webhooks may go, and how a delivery gets there: https, public addresses, the checked one (SSRF).

The host is resolved **once**; every address it gives must be public: not private, loopback,
link-local (cloud metadata at 169.254.169.254), shared, multicast or reserved, and no IPv6
address that carries such an IPv4 inside it (IPv4-mapped and -compatible, 6to4 ``2002::/16``,
Teredo ``2001::/32``, NAT64 ``64:ff9b::/96``; the local-use NAT64 prefix ``64:ff9b:1::/48`` is
refused whole). Checked when an endpoint is saved and again before every attempt, and the attempt
then connects to exactly the address that was checked: a name that answers a public address to
the check and ``127.0.0.1`` a moment later (DNS rebinding) never reaches ``127.0.0.1``. TLS still
verifies the certificate for the name in the URL, which is also sent as SNI and ``Host``.

A failed attempt says one thing whatever went wrong (refused, timed out, not TLS, a certificate
for another name): the delivery log, which managers read, must not map which ports of a host are
open. The exception goes to the server log.

Seams, for tests and special deployments: ``WEBHOOKS_RESOLVER`` (dotted path to a function
``(host, port) -> list of addresses``; the system's resolver by default), ``WEBHOOKS_CA_BUNDLE``
(the CA certificates deliveries trust; certifi's bundle by default, as requests uses),
``WEBHOOKS_TIMEOUT`` (connect and read seconds). ``WEBHOOKS_ALLOW_PRIVATE=1`` lifts the https
and public-address rules for development and tests (``make run`` sets it), so a receiver on
127.0.0.1 over plain http can be used; a production start refuses it (``ops/checks.py``). The
address is pinned all the same.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from django.utils.module_loading import import_string
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError

logger = logging.getLogger(__name__)

NO_ANSWER = (
    "No answer: the connection was refused or timed out, or the endpoint is not HTTPS with a certificate "
    "valid for its host name."
)
RESPONSE_EXCERPT = 1024  # characters of the answer's body kept on each attempt (1 KB of ASCII)

# IPv6 prefixes that carry an IPv4 address inside them (RFC 3056, 4380, 6052, 8215, 4291).
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
TEREDO = ipaddress.IPv6Network("2001::/32")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # operators choose where the IPv4 sits: refused whole
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class DestinationRefused(Exception):
    """The URL may not receive webhooks; ``str()`` says why in a sentence."""


@dataclass(frozen=True)
class Destination:
    """A checked webhook URL: the name it names and the public addresses it resolved to, once."""

    scheme: str
    host: str  # as in the URL: certificate, SNI and Host header
    port: int
    target: str  # path and query
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Answer:
    status: int | None
    excerpt: str
    error: str


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for ``host``, in its order (the default ``WEBHOOKS_RESOLVER``)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> Iterator[ipaddress.IPv4Address]:
    if ip in SIX_TO_FOUR and ip.sixtofour is not None:
        yield ip.sixtofour
    if ip in TEREDO and ip.teredo is not None:
        yield from ip.teredo  # the relay server and the (de-obfuscated) client
    if ip in NAT64:
        yield ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in IPV4_COMPATIBLE:
        yield ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)


def address_blocked(address: str) -> bool:
    """True unless ``address`` is a public unicast address that carries no private IPv4 inside."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:a.b.c.d is that IPv4 address, nothing more
        elif ip in NAT64_LOCAL or any(address_blocked(str(inner)) for inner in _embedded_ipv4(ip)):
            return True
    return not ip.is_global or ip.is_multicast or ip.is_reserved


def _url_refusal(url: str) -> str | None:
    allow_private = settings.WEBHOOKS_ALLOW_PRIVATE
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (an impossible port raises here)
    except ValueError:
        return "This is not a valid URL."
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "Give a full https:// URL."
    if parts.scheme != "https" and not allow_private:
        return "Webhooks are sent over https only: give an https:// URL."
    if parts.username or parts.password:
        return "Leave user names and passwords out of the URL; webhooks are signed instead."
    return None


def destination_check(url: str) -> Destination:
    """Resolve ``url``'s host once and check every address; the destination to connect to.

    Raises ``DestinationRefused`` naming why not. With ``WEBHOOKS_ALLOW_PRIVATE`` the addresses
    are not checked, but still resolved once here and pinned.
    """
    refusal = _url_refusal(url)
    if refusal:
        raise DestinationRefused(refusal)
    parts = urlsplit(url)
    host = parts.hostname or ""  # _url_refusal refused a URL without one
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]  # an address in the URL is not looked up
    except ValueError:
        try:
            addresses = list(dict.fromkeys(import_string(settings.WEBHOOKS_RESOLVER)(host, port)))
        except (OSError, UnicodeError):
            addresses = []
    if not addresses:
        raise DestinationRefused(f"The host “{host}” could not be resolved.")
    if not settings.WEBHOOKS_ALLOW_PRIVATE and any(address_blocked(address) for address in addresses):
        raise DestinationRefused(f"The host “{host}” resolves to a private or reserved address; give a public one.")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(scheme=parts.scheme, host=host, port=port, target=target, addresses=tuple(addresses))


def destination_refusal(url: str) -> str | None:
    """Why ``url`` may not receive webhooks, in a sentence; ``None`` when it may (checked on save).

    With ``WEBHOOKS_ALLOW_PRIVATE`` only the URL itself is checked: a development receiver's name
    need not resolve yet.
    """
    if settings.WEBHOOKS_ALLOW_PRIVATE:
        return _url_refusal(url)
    try:
        destination_check(url)
    except DestinationRefused as refusal:
        return str(refusal)
    return None


def _pool(destination: Destination, address: str, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    """A connection pool to ``address`` alone; for https, the certificate is checked for the URL's name."""
    if destination.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            destination.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            ca_certs=settings.WEBHOOKS_CA_BUNDLE or certifi.where(),
            server_hostname=destination.host,  # SNI and the name the certificate must carry
        )
    return urllib3.HTTPConnectionPool(address, destination.port, timeout=timeout, retries=False, maxsize=1)


def destination_post(url: str, *, body: bytes, headers: dict[str, str]) -> Answer:
    """POST ``body`` to ``url`` once, at the address the check approved; redirects are not followed.

    Each checked address is tried in the resolver's order while the connection cannot be opened
    (nothing was sent yet); once it is open, that attempt is the one.
    """
    try:
        destination = destination_check(url)
    except DestinationRefused as refusal:
        return Answer(status=None, excerpt="", error=str(refusal))
    connect, read = settings.WEBHOOKS_TIMEOUT
    timeout = urllib3.Timeout(connect=connect, read=read)
    for address in destination.addresses:
        pool = _pool(destination, address, timeout)
        try:
            response = pool.urlopen(
                "POST",
                destination.target,
                body=body,
                headers={**headers, "Host": destination.host_header},
                redirect=False,
                preload_content=False,
            )
            # More than is kept: the caller blanks out secrets first, then cuts to RESPONSE_EXCERPT
            # (a secret across the cut must not leave its first half in the log).
            excerpt = response.read(RESPONSE_EXCERPT * 4, decode_content=True)
            return Answer(status=response.status, excerpt=excerpt.decode("utf-8", "replace"), error="")
        except (NewConnectionError, ConnectTimeoutError) as exc:
            logger.info("webhook to %s: %s could not be reached: %s", destination.host, address, exc)
            continue
        except (HTTPError, OSError) as exc:
            logger.info("webhook to %s at %s: %s", destination.host, address, exc)
            break
        finally:
            pool.close()
    return Answer(status=None, excerpt="", error=NO_ANSWER)
