from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from core.admin import view_on_site
from ops.metrics import metrics

from . import views

admin.site.site_header = "Textdesk administration"
admin.site.site_title = "Textdesk"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("healthz/live", views.healthz_live, name="healthz_live"),
    path("healthz/ready", views.healthz_ready, name="healthz_ready"),
    path("metrics", metrics, name="metrics"),
    # Before admin's own "View on site" redirect, which looks ids up across organizations.
    path("admin/r/<int:content_type_id>/<path:object_id>/", admin.site.admin_view(view_on_site)),
    path("admin/", admin.site.urls),
    path("api/", include("config.api")),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("messaging.urls")),
    path("", include("interactions.urls")),
    path("", include("workflows.urls")),
]
