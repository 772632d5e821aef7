"""Where a form goes back to after a POST."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request: HttpRequest, default: str) -> str:
    """The form's ``next`` when it is a path on this site, else ``default`` (never an open redirect).

    Only a path (``/inbox/?show=mine``) is taken: ``-1`` or ``foo`` are no address at all, and
    ``redirect()`` would have tried them as URL names (a 500); ``//evil.example`` is another site.
    """
    target = request.POST.get("next", "")
    if (
        target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    ):
        return target
    return default
