"""The template form's live preview endpoint: the body as typed, for the organization's own sample record."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import CustomerFactory, MessageTemplateFactory

pytestmark = pytest.mark.django_db

URL = reverse("template_preview_live")


def test_the_body_as_typed_comes_back_filled_in_with_its_length(manager_client, facility):
    CustomerFactory(facility=facility, first_name="Priya")

    html = manager_client.post(URL, {"body": "Hi {{ first_name }} 👋"}).content.decode()

    assert "Hi Priya 👋\nUnsubscribe: " in html
    assert "UCS-2" in html and "segment" in html


def test_a_wrong_merge_field_is_named_and_an_empty_body_asks_for_one(manager_client, facility):
    assert (
        "Unknown merge field {{ first_nam }}" in manager_client.post(URL, {"body": "{{ first_nam }}"}).content.decode()
    )
    assert "Type the template" in manager_client.post(URL, {"body": "  "}).content.decode()


def test_another_organizations_template_or_record_never_shows(manager_client, facility, other_org):
    theirs = MessageTemplateFactory(organization=other_org, body="Rival secret")
    CustomerFactory(facility__organization=other_org, first_name="Rivalperson", balance_due=10_000)

    assert manager_client.post(URL, {"body": "Hi {{ first_name }}", "template": theirs.pk}).status_code == 404
    html = manager_client.post(URL, {"body": "Hi {{ first_name }}"}).content.decode()
    assert "Rival" not in html


def test_only_a_signed_in_member_posting_may_preview(manager_client):
    assert manager_client.get(URL).status_code == 405
    assert Client().post(URL, {"body": "Hi"}).status_code == 302  # to sign-in
