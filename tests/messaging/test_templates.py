"""Templates: merge fields validated by name, rendered per person; admin scoped and previewed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import ServiceError
from messaging.models import Message, MessageTemplate
from messaging.rendering import MERGE_FIELDS, template_validate
from messaging.services import message_queue, template_preview
from tests.factories import CustomerFactory, MessageTemplateFactory, PhoneNumberFactory


def test_every_documented_merge_field_is_accepted():
    template_validate(" ".join(f"{{{{ {name} }}}}" for name in MERGE_FIELDS))
    template_validate("{{first_name}} and {{   unit   }}")


@pytest.mark.parametrize("body", ["Hi {{ frist_name }}!", "Hi {{ first_name }}, {{ balance }} due"])
def test_an_unknown_merge_field_is_refused_by_name(body):
    with pytest.raises(ServiceError) as caught:
        template_validate(body)
    assert caught.value.code == "unknown_merge_field"
    assert caught.value.field == "body"
    wrong = "frist_name" if "frist" in body else "balance"
    assert f"{{{{ {wrong} }}}}" in caught.value.message
    assert caught.value.extra["fields"] == [wrong]


@pytest.mark.parametrize("body", ["Hi {{ first_name", "Hi first_name }}", "{% if x %}hi{% endif %}"])
def test_a_malformed_merge_field_is_refused(body):
    with pytest.raises(ServiceError) as caught:
        template_validate(body)
    assert caught.value.code == "malformed_merge_field"


def test_a_template_fills_in_the_customer_facility_and_agent(facility, agent, open_all_day):
    from interactions.services import consent_grant

    customer = CustomerFactory(facility=facility, first_name="Dana", unit="C12", balance_due=Decimal("1234.5"))
    phone = PhoneNumberFactory(lead=None, customer=customer, number="+15125550177")
    consent_grant(organization=facility.organization, number=phone.number, source="pms_import")
    template = MessageTemplateFactory(
        organization=facility.organization,
        body="Hi {{ first_name }}, unit {{ unit }} owes {{ balance_due }}. {{ facility_name }} {{ facility_phone }} "
        "- {{ agent_name }}",
    )
    message = message_queue(phone_number=phone, sent_by=agent, template=template)
    assert message.body.startswith(
        "Hi Dana, unit C12 owes $1,234.50. Lakeside Austin (512) 555-0100 - Alex\nUnsubscribe: https://"
    )
    assert message.template == template


def test_an_inactive_template_is_refused_and_nothing_is_written(consented_number, agent, open_all_day):
    template = MessageTemplateFactory(organization=consented_number.organization, active=False, name="Old promo")
    with pytest.raises(ServiceError) as caught:
        message_queue(phone_number=consented_number, sent_by=agent, template=template)
    assert caught.value.code == "inactive_template"
    assert "Old promo" in caught.value.message
    assert not Message.objects.exists()


def test_another_organizations_template_is_not_found(consented_number, agent, other_org, open_all_day):
    template = MessageTemplateFactory(organization=other_org)
    with pytest.raises(ServiceError) as caught:
        message_queue(phone_number=consented_number, sent_by=agent, template=template)
    assert (caught.value.code, caught.value.status) == ("not_found", 404)
    assert not Message.objects.exists()


def test_preview_uses_a_sample_record_and_counts_the_link(org):
    draft = template_preview(organization=org, body="Hi {{ first_name }} {{ last_name }}, unit {{ unit }}")
    assert draft.text.startswith("Hi Jordan Sample, unit A101\nUnsubscribe: https://textdesk.test/u/")
    assert draft.measure.characters == len(draft.text)
    assert (draft.measure.encoding, draft.measure.segments) == ("GSM-7", 1)


# --- admin -------------------------------------------------------------------------------

ADD_URL = "/admin/messaging/messagetemplate/add/"


def _post(client, url, **data):
    return client.post(url, {"name": "Reminder", "category": "collections", "body": "Hi", "active": "on", **data})


def test_manager_adds_a_template_in_their_organization(manager_client, org):
    response = _post(manager_client, ADD_URL, body="Hi {{ first_name }}, you owe {{ balance_due }}.")
    assert response.status_code == 302
    template = MessageTemplate.objects.get()
    assert (template.organization, template.category) == (org, "collections")


def test_admin_form_names_the_unknown_merge_field(manager_client):
    response = _post(manager_client, ADD_URL, body="Hi {{ firstname }}")
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "{{ firstname }}" in errors["body"][0]
    assert "first_name" in errors["body"][0]
    assert not MessageTemplate.objects.exists()


def test_admin_refuses_a_duplicate_name_with_a_form_error(manager_client, org):
    MessageTemplateFactory(organization=org, name="Reminder")
    response = _post(manager_client, ADD_URL)
    assert response.status_code == 200
    assert "already exists" in str(response.context["adminform"].form.errors)
    assert MessageTemplate.objects.count() == 1


def test_agent_can_read_templates_but_not_edit_them(agent_client, org):
    template = MessageTemplateFactory(organization=org, name="Welcome")
    assert agent_client.get(f"/admin/messaging/messagetemplate/{template.pk}/change/").status_code == 200
    assert agent_client.get(ADD_URL).status_code == 403
    response = _post(agent_client, f"/admin/messaging/messagetemplate/{template.pk}/change/", name="Hacked")
    assert response.status_code == 403
    template.refresh_from_db()
    assert template.name == "Welcome"


def test_another_organizations_template_answers_404_in_admin(manager_client, other_org):
    template = MessageTemplateFactory(organization=other_org)
    response = manager_client.get(f"/admin/messaging/messagetemplate/{template.pk}/change/")
    assert response.status_code == 404
    listing = manager_client.get("/admin/messaging/messagetemplate/")
    assert template.name not in listing.content.decode()


def test_admin_preview_shows_text_encoding_and_segments(manager_client, facility):
    CustomerFactory(facility=facility, first_name="Priya", unit="B7")
    template = MessageTemplateFactory(
        organization=facility.organization, body="Hi {{ first_name }} 👋 unit {{ unit }} is ready"
    )
    page = manager_client.get(f"/admin/messaging/messagetemplate/{template.pk}/change/").content.decode()
    assert "Hi Priya 👋 unit B7 is ready" in page
    assert "Unsubscribe: https://textdesk.test/u/" in page
    assert "UCS-2" in page
    assert "2 segments" in page  # ~75 UTF-16 units with the link: over 70


def test_a_superuser_picks_the_organization_of_a_template(admin_client, org):
    response = admin_client.post(
        ADD_URL, {"organization": org.pk, "name": "HQ note", "category": "general", "body": "Hi", "active": "on"}
    )
    assert response.status_code == 302
    assert MessageTemplate.objects.get().organization == org


def test_the_template_list_costs_the_same_queries_for_3_and_30_templates(manager_client, facility):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    CustomerFactory(facility=facility, first_name="Priya")
    MessageTemplateFactory.create_batch(3, organization=facility.organization)
    with CaptureQueriesContext(connection) as few:
        assert manager_client.get("/admin/messaging/messagetemplate/").status_code == 200
    MessageTemplateFactory.create_batch(27, organization=facility.organization)
    with CaptureQueriesContext(connection) as many:
        page = manager_client.get("/admin/messaging/messagetemplate/").content.decode()

    assert len(many) == len(few)
    assert page.count(" chars · GSM-7 · ") == 30
