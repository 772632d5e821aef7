"""Pictures (MMS): served to Twilio through signed links, to signed-in agents, and uploaded from the panel.

Every picture is served by a view, never from a public folder: ``/m/<signed>`` for the provider
(no login; a wrong or expired signature is a 404), ``/media/<id>/`` for members of the picture's
organization (another organization's id is a 404). Both answer with the type stored (read from
the content when it was stored), ``X-Content-Type-Options: nosniff`` and ``Cache-Control: private``,
so no shared cache between here and the reader keeps a copy.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import ServiceError
from core.tenancy import require_organization

from ..models import Media
from ..selectors import media_by_link, media_for
from ..serializers import media_shape
from ..services import media_create


def _serve(media: Media) -> FileResponse:
    response = FileResponse(media.file.open("rb"), content_type=media.content_type)
    response["Content-Length"] = str(media.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Disposition"] = f'inline; filename="picture-{media.pk}.{media.extension}"'
    return response


@require_GET
def media_public(request: HttpRequest, token: str) -> FileResponse:
    """A picture for the provider (Twilio fetches each MediaUrl of a text); 404 without a valid signature."""
    media = media_by_link(token)
    if media is None:
        raise Http404("No such picture.")
    return _serve(media)


@login_required
@require_GET
def media_content(request: HttpRequest, media_id: int) -> FileResponse:
    """A picture of the signed-in agent's organization, full size (the thread's thumbnails link here)."""
    media = media_for(organization=require_organization(request), pk=media_id)
    if media is None:
        raise Http404("No such picture.")
    return _serve(media)


def media_json(media: Media) -> dict:
    """The API's description of a picture, with the signed-in agent's link to it (the panel's thumbnails)."""
    return media_shape(media, url=reverse("media_content", kwargs={"media_id": media.pk}))


@login_required
@require_POST
def media_upload(request: HttpRequest) -> HttpResponse:
    """The panel's attach button, drop and paste: one picture in ``file``; its id and link, or 400 saying why."""
    organization = require_organization(request)
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"error": "Choose a picture to attach."}, status=400)
    try:
        media = media_create(
            organization=organization, file=upload, name=upload.name or "picture", created_by=request.user
        )
    except ServiceError as exc:
        return JsonResponse({"error": exc.message, "code": exc.code}, status=400)
    return JsonResponse(media_json(media), status=201)
