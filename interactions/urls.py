from __future__ import annotations

from django.urls import path

from . import views, workflow_views

urlpatterns = [
    path("", views.home, name="home"),
    path("leads/<int:pk>/", views.lead_detail, name="lead_card"),
    path("customers/<int:pk>/", views.customer_detail, name="customer_card"),
    path("history/<int:pk>/", views.history_detail, name="history_card"),
    path("outstanding/", workflow_views.outstanding, name="outstanding"),
    path("tasks/<int:pk>/done/", workflow_views.task_done, name="task_done"),
    path("tasks/<int:pk>/skip/", workflow_views.task_skip_view, name="task_skip"),
    path("leads/<int:pk>/enroll/", workflow_views.enrollment_create, {"kind": "lead"}, name="lead_enroll"),
    path("customers/<int:pk>/enroll/", workflow_views.enrollment_create, {"kind": "customer"}, name="customer_enroll"),
    path("enrollments/<int:pk>/stop/", workflow_views.enrollment_stop_view, name="enrollment_stop"),
]
