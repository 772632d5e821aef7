"""What a request tells about where it came from."""

from __future__ import annotations

from django.http import HttpRequest


def request_evidence(request: HttpRequest) -> dict[str, str | None]:
    """The client's address and browser, as the consent ledger keeps them with an agent's or a person's act.

    Pass it on as keywords: ``consent_revoke(..., **request_evidence(request))``.
    """
    return {"ip_address": request.META.get("REMOTE_ADDR") or None, "user_agent": request.headers.get("user-agent", "")}
