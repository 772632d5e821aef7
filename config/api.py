"""REST API URLs: ``/api/v1/…`` resources, the OpenAPI schema and its Swagger UI (assets served locally)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from interactions.api import (
    ConsentEventFeedView,
    ConsentEvidenceExportView,
    ConsentView,
    CustomerViewSet,
    LeadViewSet,
    PhoneNumberViewSet,
)
from messaging.api import MessageViewSet, TemplateViewSet
from workflows.api import EnrollmentViewSet, TaskViewSet, WorkflowViewSet


class Router(DefaultRouter):
    include_format_suffixes = False


router = Router()
router.register("leads", LeadViewSet, basename="api-lead")
router.register("customers", CustomerViewSet, basename="api-customer")
router.register("phone-numbers", PhoneNumberViewSet, basename="api-phone-number")
router.register("templates", TemplateViewSet, basename="api-template")
router.register("messages", MessageViewSet, basename="api-message")
router.register("tasks", TaskViewSet, basename="api-task")
router.register("enrollments", EnrollmentViewSet, basename="api-enrollment")
router.register("workflows", WorkflowViewSet, basename="api-workflow")


@csrf_exempt
def not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Unknown API URLs answer in the API's error shape, not with an HTML page."""
    return JsonResponse({"code": "not_found", "detail": "Not found: no such API endpoint or id."}, status=404)


urlpatterns = [
    path("v1/consent/", ConsentView.as_view(), name="api-consent"),
    path("v1/consent/evidence.csv", ConsentEvidenceExportView.as_view(), name="api-consent-evidence"),
    path("v1/consent-events/", ConsentEventFeedView.as_view(), name="api-consent-events"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Only paths ending in "/": a missing trailing slash still gets Django's redirect to the real URL.
    re_path(r"^.*/$", not_found),
]
