"""The project's URLs plus ``/bench/baseline/`` (benchmarks only; see bench/settings.py)."""

from __future__ import annotations

from django.urls import path

from config.urls import urlpatterns as project_urlpatterns

from .baseline import BaselineSendView

urlpatterns = [
    path("bench/baseline/", BaselineSendView.as_view(), name="bench-baseline"),
    *project_urlpatterns,
]
