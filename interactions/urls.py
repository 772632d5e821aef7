from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("leads/<int:pk>/", views.lead_detail, name="lead_card"),
    path("customers/<int:pk>/", views.customer_detail, name="customer_card"),
    path("history/<int:pk>/", views.history_detail, name="history_card"),
    path("numbers/<int:pk>/confirm/", views.number_confirm, name="number_confirm"),
    path("phone-numbers/<int:phone_id>/consent-evidence/", views.consent_evidence, name="consent_evidence"),
    # The card's phone menu (templates/messaging/_text_controls.html): Add New and the consent forms.
    path("text/<str:kind>/<int:pk>/numbers/", views.number_add, name="text_number_add"),
    path("text/consent/<int:phone_id>/", views.consent_record, name="text_consent_record"),
    path("text/consent/<int:phone_id>/opt-out/", views.consent_opt_out, name="text_consent_opt_out"),
]
