from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("outstanding/", views.outstanding, name="outstanding"),
    path("tasks/<int:pk>/done/", views.task_done, name="task_done"),
    path("tasks/<int:pk>/skip/", views.task_skip_view, name="task_skip"),
    # "Open & text": the card's text panel posts here when it was opened from a task.
    path("tasks/<int:pk>/text/<int:phone_id>/", views.task_text_send, name="task_text_send"),
    path("leads/<int:pk>/enroll/", views.enrollment_create, {"kind": "lead"}, name="lead_enroll"),
    path("customers/<int:pk>/enroll/", views.enrollment_create, {"kind": "customer"}, name="customer_enroll"),
    path("enrollments/<int:pk>/stop/", views.enrollment_stop_view, name="enrollment_stop"),
]
