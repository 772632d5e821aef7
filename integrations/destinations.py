"""Where webhooks may go: https, and never to this network (SSRF).

The host is resolved and every address it gives must be public: not private, loopback,
link-local (cloud metadata at 169.254.169.254), shared, multicast or reserved. Checked when an
endpoint is saved and again before every attempt (DNS may change in between).
``WEBHOOKS_ALLOW_PRIVATE=1`` lifts both rules for development and tests (``make run`` sets it),
so a receiver on 127.0.0.1 over plain http can be used; production must not set it.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


def _blocked(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_reserved


def destination_refusal(url: str) -> str | None:
    """Why ``url`` may not receive webhooks, in a sentence; ``None`` when it may."""
    allow_private = getattr(settings, "WEBHOOKS_ALLOW_PRIVATE", False)
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "This is not a valid URL."
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "Give a full https:// URL."
    if parts.scheme != "https" and not allow_private:
        return "Webhooks are sent over https only: give an https:// URL."
    if parts.username or parts.password:
        return "Leave user names and passwords out of the URL; webhooks are signed instead."
    if allow_private:
        return None
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError):
        return f"The host “{parts.hostname}” could not be resolved."
    if not addresses or any(_blocked(address) for address in addresses):
        return f"The host “{parts.hostname}” resolves to a private or reserved address; give a public one."
    return None
