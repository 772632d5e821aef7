"""REST API URLs: ``/api/v1/…`` resources, the OpenAPI schema and its Swagger UI (assets served locally)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, include, path, re_path, resolve
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from integrations.api import ApiKeyViewSet, WebhookDeliveryViewSet, WebhookEndpointViewSet
from interactions.api import (
    ConsentEventFeedView,
    ConsentEvidenceExportView,
    ConsentView,
    CustomerViewSet,
    LeadViewSet,
    PhoneNumberViewSet,
)
from messaging.api import MediaViewSet, MessageViewSet, TemplateViewSet
from workflows.api import EnrollmentViewSet, TaskViewSet, WorkflowViewSet


class Router(DefaultRouter):
    include_format_suffixes = False


router = Router()
router.register("leads", LeadViewSet, basename="api-lead")
router.register("customers", CustomerViewSet, basename="api-customer")
router.register("phone-numbers", PhoneNumberViewSet, basename="api-phone-number")
router.register("templates", TemplateViewSet, basename="api-template")
router.register("messages", MessageViewSet, basename="api-message")
router.register("media", MediaViewSet, basename="api-media")
router.register("tasks", TaskViewSet, basename="api-task")
router.register("enrollments", EnrollmentViewSet, basename="api-enrollment")
router.register("workflows", WorkflowViewSet, basename="api-workflow")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="api-webhook-endpoint")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="api-webhook-delivery")
router.register("api-keys", ApiKeyViewSet, basename="api-api-key")


@csrf_exempt
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown API URLs answer in the API's error shape, not with an HTML page."""
    return JsonResponse({"code": "not_found", "detail": "Not found: no such API endpoint or id."}, status=404)


@csrf_exempt
def without_slash(request: HttpRequest, path: str) -> HttpResponse:
    """``/api/v1/customers`` works like ``/api/v1/customers/``, for every method.

    Django's slash redirect would drop a POST's body (and refuses to, with a 500, under DEBUG);
    an unknown path answers the API's JSON 404, never a redirect.
    """
    try:
        match = resolve(f"/api/{path}/")
    except Resolver404:
        return not_found(request)
    if match.func in (without_slash, not_found):
        return not_found(request)
    request.path_info, request.path = f"/api/{path}/", f"{request.path}/"
    return match.func(request, *match.args, **match.kwargs)


urlpatterns = [
    path("v1/consent/", ConsentView.as_view(), name="api-consent"),
    path("v1/consent/evidence.csv", ConsentEvidenceExportView.as_view(), name="api-consent-evidence"),
    path("v1/consent-events/", ConsentEventFeedView.as_view(), name="api-consent-events"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file, not inline (Content-Security-Policy).
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
    path("", not_found),  # /api/ itself
    re_path(r"^.*/$", not_found),
    # Anything else under /api/ lacks its trailing slash: served as if it had one, never redirected.
    re_path(r"^(?P<path>.*[^/])$", without_slash),
]
