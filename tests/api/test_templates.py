from __future__ import annotations

import pytest

from messaging.models import MessageTemplate
from tests.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db

REMINDER = {
    "name": "Payment reminder",
    "category": "collections",
    "body": "Hi {{ first_name }}, your balance at {{ facility_name }} is {{ balance_due }}.",
}


def test_agent_lists_and_reads_templates(api, org):
    template = MessageTemplateFactory(organization=org, name="Welcome", body="Hi {{ first_name }}")

    listed = api.get("/api/v1/templates/").json()
    read = api.get(f"/api/v1/templates/{template.pk}/").json()

    assert [row["name"] for row in listed["results"]] == ["Welcome"]
    assert (read["body"], read["merge_fields"], read["active"]) == ("Hi {{ first_name }}", ["first_name"], True)


def test_agent_may_not_create_or_change_templates(api, org):
    template = MessageTemplateFactory(organization=org, name="Welcome")

    created = api.post("/api/v1/templates/", REMINDER, format="json")
    changed = api.patch(f"/api/v1/templates/{template.pk}/", {"body": "Changed"}, format="json")

    assert created.status_code == changed.status_code == 403
    assert created.json()["code"] == "manager_required"
    assert "managers" in created.json()["detail"]
    assert MessageTemplate.objects.get().body != "Changed"


def test_manager_creates_and_updates_a_template(manager_api, org):
    created = manager_api.post("/api/v1/templates/", REMINDER, format="json")
    template_id = created.json()["id"]
    updated = manager_api.patch(f"/api/v1/templates/{template_id}/", {"active": False}, format="json")

    assert created.status_code == 201, created.json()
    assert created.json()["merge_fields"] == ["first_name", "facility_name", "balance_due"]
    assert updated.status_code == 200
    template = MessageTemplate.objects.get(pk=template_id)
    assert (template.organization, template.active, template.category) == (org, False, "collections")


@pytest.mark.parametrize(
    "body, code",
    [
        ("Hi {{ first_nam }}", "unknown_merge_field"),
        ("Hi {{ first_name }", "malformed_merge_field"),
        ("   ", "empty_body"),
    ],
)
def test_bad_template_body_is_refused_naming_the_body(manager_api, body, code):
    response = manager_api.post("/api/v1/templates/", {**REMINDER, "body": body}, format="json")

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == (code, "body")
    assert not MessageTemplate.objects.exists()


def test_unknown_merge_field_is_named_in_the_detail(manager_api, org):
    template = MessageTemplateFactory(organization=org)

    response = manager_api.put(
        f"/api/v1/templates/{template.pk}/", {**REMINDER, "body": "Hello {{ nickname }}"}, format="json"
    )

    assert response.status_code == 400
    assert "{{ nickname }}" in response.json()["detail"]
    assert response.json()["fields"] == ["nickname"]


def test_duplicate_template_name_is_refused_on_name(manager_api, org):
    MessageTemplateFactory(organization=org, name=REMINDER["name"])

    response = manager_api.post("/api/v1/templates/", REMINDER, format="json")

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("duplicate_name", "name")
