"""``/u/<token>``: the unsubscribe link at the end of every text (docs/ARCHITECTURE.md rule 5).

GET only shows a confirmation page (link scanners and previews fetch links; they must not
opt anyone out). POST opts the number out. Both are idempotent and need no login; a signed-in
member of staff is refused (403), since the link speaks for the person texted. The POST is
CSRF-exempt on purpose: the unguessable token is the credential, and a phone's in-app browser
that drops cookies must still be able to unsubscribe.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber

from core.errors import ServiceError
from core.http import request_evidence
from interactions.services import consent_status

from ..selectors import unsubscribe_link_by_token
from ..services import unsubscribe_link_use


def _masked(number: ParsedNumber | None) -> str:
    digits = number.as_national if number else ""
    return f"•••-•••-{digits[-4:]}" if digits else ""


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "messaging/unsubscribe_not_found.html", status=404)


@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    link = unsubscribe_link_by_token(token=token)
    if link is None:
        return _not_found(request)
    if request.user.is_authenticated:
        # The link opts out the person texted, in their name, for good (only their START re-opts in). Staff
        # signed in here are not that person: they record an opt-out on the card, where it names them.
        return render(request, "messaging/unsubscribe_staff.html", status=403)
    context = {"organization": link.organization, "number": _masked(link.number)}
    if request.method == "POST":
        try:
            outcome = unsubscribe_link_use(token=token, **request_evidence(request))
        except ServiceError:
            return _not_found(request)
        return render(request, "messaging/unsubscribe_done.html", {**context, "already": outcome.already})
    state = consent_status(organization=link.organization, number=link.number)
    already = state.is_revoked and state.person_opted_out
    return render(request, "messaging/unsubscribe_confirm.html", {**context, "already": already})
