"""Django admin: every page is scoped to the signed-in user's organization (docs/ARCHITECTURE.md rule 1)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.forms import ModelChoiceField
from django.test import Client
from django.urls import reverse

from interactions.models import (
    Consent,
    ConsentEvent,
    Customer,
    Facility,
    History,
    Lead,
    Membership,
    Organization,
    PhoneNumber,
)
from interactions.services import consent_grant
from tests.factories import (
    CustomerFactory,
    FacilityFactory,
    HistoryFactory,
    LeadFactory,
    MembershipFactory,
    PhoneNumberFactory,
    UserFactory,
    WorkflowFactory,
    WorkflowStepFactory,
)
from workflows.models import Enrollment, Task, Workflow
from workflows.services import enrollment_start, task_create_for_step

INTERACTIONS_ADMINS = sorted(
    (model for model in admin.site._registry if model._meta.app_label in ("interactions", "workflows")),
    key=lambda model: model._meta.model_name,
)
MANAGER_ONLY = {Organization, Facility, Membership, Workflow}
READ_ONLY = {Consent, ConsentEvent, Enrollment, History, Task}


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def make_world(org, prefix: str) -> dict:
    """One row of every admin-registered model inside ``org``, with names that give the org away."""
    facility = FacilityFactory(organization=org, name=f"{prefix} Facility")
    lead = LeadFactory(facility=facility, first_name=f"{prefix}Lead")
    customer = CustomerFactory(facility=facility, first_name=f"{prefix}Customer")
    phone = PhoneNumberFactory(lead=lead)
    history = HistoryFactory(lead=lead, summary=f"{prefix} history")
    event = consent_grant(organization=org, number=phone.number, source="web_form", evidence=f"{prefix} form")
    member = MembershipFactory(organization=org, user__username=f"{prefix.lower()}-member")
    workflow = WorkflowFactory(organization=org, kind="lead_follow_up", name=f"{prefix} follow-up")
    step = WorkflowStepFactory(workflow=workflow, action="manual_text", template__name=f"{prefix} template")
    enrollment = enrollment_start(workflow=workflow, owner=lead, source="agent")
    task = task_create_for_step(enrollment=enrollment, step=step, due_at=enrollment.next_due_at)
    return {
        Workflow: workflow,
        Enrollment: enrollment,
        Task: task,
        Organization: org,
        Facility: facility,
        Lead: lead,
        Customer: customer,
        History: history,
        ConsentEvent: event,
        Consent: Consent.objects.get(organization=org, number=phone.number),
        Membership: member,
        "facility": facility,
        "lead": lead,
        "phone": phone,
    }


@pytest.fixture
def world(org, other_org, agent, manager):
    return {"mine": make_world(org, "Lakeside"), "theirs": make_world(other_org, "Rival")}


@pytest.fixture
def superuser_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(username="root", is_superuser=True))
    return client


@pytest.fixture(params=["agent", "manager"])
def member_client(request, agent_client, manager_client) -> Client:
    return {"agent": agent_client, "manager": manager_client}[request.param]


def test_every_interactions_admin_is_covered_by_these_tests():
    assert set(INTERACTIONS_ADMINS) == {
        Organization,
        Facility,
        Membership,
        Lead,
        Customer,
        History,
        ConsentEvent,
        Consent,
        Workflow,
        Enrollment,
        Task,
    }


@pytest.mark.parametrize("model", INTERACTIONS_ADMINS, ids=lambda m: m._meta.model_name)
def test_changelist_shows_only_rows_of_the_members_organization(model, world, member_client):
    response = member_client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    shown = set(response.context["cl"].queryset)
    assert world["mine"][model] in shown
    assert world["theirs"][model] not in shown
    assert "Rival" not in response.content.decode()


@pytest.mark.parametrize("model", INTERACTIONS_ADMINS, ids=lambda m: m._meta.model_name)
def test_another_organizations_row_answers_404_on_every_object_page(model, world, member_client):
    theirs = world["theirs"][model].pk

    for view in ("change", "delete", "history"):
        assert member_client.get(admin_url(model, view, theirs)).status_code == 404, view
    assert member_client.post(admin_url(model, "change", theirs), {}).status_code == 404


@pytest.mark.parametrize("model", INTERACTIONS_ADMINS, ids=lambda m: m._meta.model_name)
def test_own_organizations_row_opens_for_members(model, world, member_client):
    response = member_client.get(admin_url(model, "change", world["mine"][model].pk))

    assert response.status_code == 200
    assert "Rival" not in response.content.decode()


@pytest.mark.parametrize("model", INTERACTIONS_ADMINS, ids=lambda m: m._meta.model_name)
def test_superuser_sees_every_organizations_rows(model, world, superuser_client):
    response = superuser_client.get(admin_url(model, "changelist"))

    assert response.status_code == 200
    shown = set(response.context["cl"].queryset)
    assert {world["mine"][model], world["theirs"][model]} <= shown
    assert superuser_client.get(admin_url(model, "change", world["theirs"][model].pk)).status_code == 200


def _dropdowns(response) -> dict:
    """The visible model choice fields of the page's form and inline forms (not hidden row ids)."""

    def visible(field) -> bool:
        return isinstance(field, ModelChoiceField) and not field.widget.is_hidden

    form = response.context["adminform"].form
    fields = {name: field for name, field in form.fields.items() if visible(field)}
    for inline in response.context["inline_admin_formsets"]:
        for name, field in inline.formset.empty_form.fields.items():
            if visible(field):
                fields[f"{inline.formset.prefix}.{name}"] = field
    return fields


def _foreign_org(choice, org) -> bool:
    if isinstance(choice, Organization):
        return choice != org
    if hasattr(choice, "organization_id"):
        return choice.organization_id != org.pk
    if isinstance(choice, get_user_model()):
        membership = getattr(choice, "membership", None)
        return membership is not None and membership.organization_id != org.pk
    raise AssertionError(f"unexpected choice {choice!r}")


@pytest.mark.parametrize(
    "model", [m for m in INTERACTIONS_ADMINS if m not in READ_ONLY], ids=lambda m: m._meta.model_name
)
def test_dropdowns_offer_only_the_managers_organization(model, world, manager_client, org):
    checked = 0
    for url in (admin_url(model, "change", world["mine"][model].pk), admin_url(model, "add")):
        response = manager_client.get(url)
        if response.status_code == 403:  # Organization: only superusers add one
            continue
        fields = _dropdowns(response)
        for name, field in fields.items():
            leaked = [choice for choice in field.queryset if _foreign_org(choice, org)]
            assert not leaked, f"{url} {name} offers {leaked}"
            checked += bool(field.queryset.exists())
    # No dropdown for a manager on these; a membership's user is created on its add page, fixed after.
    assert checked or model in (Organization, Facility, Membership)


def test_lead_facility_dropdown_lists_only_own_facilities(world, agent_client):
    response = agent_client.get(admin_url(Lead, "add"))

    facilities = set(response.context["adminform"].form.fields["facility"].queryset)
    assert facilities == {world["mine"]["facility"]}


def test_history_cannot_be_written_by_hand_even_by_a_manager(world, manager_client):
    response = manager_client.get(admin_url(History, "add"))

    assert response.status_code == 403


@pytest.mark.parametrize(
    "model", sorted(MANAGER_ONLY, key=lambda m: m._meta.model_name), ids=lambda m: m._meta.model_name
)
def test_agent_can_view_but_not_edit_manager_only_admins(model, world, agent_client):
    mine = world["mine"][model]
    mine.refresh_from_db()
    before = {f.name: getattr(mine, f.attname) for f in model._meta.concrete_fields}

    page = agent_client.get(admin_url(model, "change", mine.pk))
    post = agent_client.post(admin_url(model, "change", mine.pk), {"name": "Renamed by agent"})

    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert post.status_code == 403
    assert agent_client.get(admin_url(model, "add")).status_code == 403
    assert agent_client.post(admin_url(model, "delete", mine.pk), {"post": "yes"}).status_code == 403
    mine.refresh_from_db()
    assert {f.name: getattr(mine, f.attname) for f in model._meta.concrete_fields} == before


def test_manager_can_edit_own_facility(world, manager_client):
    facility = world["mine"]["facility"]
    data = {
        "name": "Lakeside North",
        "address": "1 Lake Rd",
        "time_zone": "America/Chicago",
        "phone": "(512) 555-0100",
        "sms_sender_number": "",
    }

    response = manager_client.post(admin_url(Facility, "change", facility.pk), data)

    assert response.status_code == 302
    facility.refresh_from_db()
    assert facility.name == "Lakeside North"
    assert facility.organization == world["mine"][Organization]


def test_manager_adds_a_facility_into_own_organization(org, manager_client):
    data = {
        "name": "Lakeside South",
        "address": "",
        "time_zone": "America/Chicago",
        "phone": "",
        "sms_sender_number": "",
    }

    response = manager_client.post(admin_url(Facility, "add"), data)

    assert response.status_code == 302
    assert Facility.objects.get(name="Lakeside South").organization == org


def test_duplicate_facility_name_is_a_form_error_not_a_500(world, manager_client):
    data = {
        "name": "Lakeside Facility",
        "address": "",
        "time_zone": "America/Chicago",
        "phone": "",
        "sms_sender_number": "",
    }

    response = manager_client.post(admin_url(Facility, "add"), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert Facility.objects.filter(name="Lakeside Facility").count() == 1


def test_facility_with_bad_sender_number_gets_a_field_error(org, admin_client):
    data = {
        "organization": org.pk,
        "name": "Bad",
        "address": "",
        "time_zone": "Mars/Olympus",
        "phone": "",
        "sms_sender_number": "12345",
    }

    response = admin_client.post(admin_url(Facility, "add"), data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "sms_sender_number" in errors
    assert "time_zone" in errors
    assert not Facility.objects.filter(name="Bad").exists()


def test_agent_can_add_a_lead_but_not_a_facility(agent_client, facility):
    assert agent_client.get(admin_url(Lead, "add")).status_code == 200
    assert agent_client.get(admin_url(Facility, "add")).status_code == 403


# --- phone numbers in the lead/customer admin ---------------------------------------------


def _management(prefix: str, total: int, initial: int = 0) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def _lead_post(facility, numbers: list[dict], *, existing: list[PhoneNumber] = ()) -> dict:
    data = {
        "facility": str(facility.pk),
        "first_name": "Dana",
        "last_name": "Ruiz",
        "email": "",
        "status": "new",
        "source": "web",
        **_management("phone_numbers", len(numbers), initial=len(existing)),
        **_management("history", 0),
    }
    for i, number in enumerate(numbers):
        row = {"label": "mobile", "source": "local", **number}
        if i < len(existing):
            row["id"] = str(existing[i].pk)
            row["lead"] = str(existing[i].lead_id)
        if not row.pop("is_primary", False):
            row.pop("is_primary", None)
        else:
            row["is_primary"] = "on"
        data |= {f"phone_numbers-{i}-{key}": value for key, value in row.items()}
    return data


def test_agent_saves_a_lead_with_numbers_in_admin(agent_client, facility, org):
    numbers = [{"number": "(512) 555-0142", "is_primary": True}, {"number": "512-555-0143", "label": "home"}]

    response = agent_client.post(admin_url(Lead, "add"), _lead_post(facility, numbers))

    assert response.status_code == 302, response.context and response.context["errors"]
    lead = Lead.objects.get(first_name="Dana")
    assert lead.organization == org
    saved = {p.e164: (p.is_primary, p.organization_id) for p in lead.phone_numbers.all()}
    assert saved == {"+15125550142": (True, org.pk), "+15125550143": (False, org.pk)}


@pytest.mark.parametrize("primaries", [(True, True), (False, False)], ids=["two primaries", "no primary"])
def test_lead_numbers_need_exactly_one_primary(agent_client, facility, primaries):
    numbers = [
        {"number": "(512) 555-0142", "is_primary": primaries[0]},
        {"number": "(512) 555-0143", "is_primary": primaries[1]},
    ]

    response = agent_client.post(admin_url(Lead, "add"), _lead_post(facility, numbers))

    assert response.status_code == 200
    assert "Mark exactly one number as primary." in response.content.decode()
    assert not Lead.objects.filter(first_name="Dana").exists()


def test_bad_number_in_admin_is_a_field_error(agent_client, facility):
    response = agent_client.post(
        admin_url(Lead, "add"), _lead_post(facility, [{"number": "555-01", "is_primary": True}])
    )

    assert response.status_code == 200
    inline = response.context["inline_admin_formsets"][0].formset
    assert "number" in inline.forms[0].errors
    assert not Lead.objects.filter(first_name="Dana").exists()


def test_admin_moves_the_primary_to_another_number(agent_client, facility):
    lead = LeadFactory(facility=facility, first_name="Dana", last_name="Ruiz", email="", source="web")
    first = PhoneNumberFactory(lead=lead, number="+15125550142", is_primary=True)
    second = PhoneNumberFactory(lead=lead, number="+15125550143", is_primary=False)
    numbers = [{"number": "+15125550142", "is_primary": False}, {"number": "+15125550143", "is_primary": True}]

    response = agent_client.post(
        admin_url(Lead, "change", lead.pk), _lead_post(facility, numbers, existing=[first, second])
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.is_primary, second.is_primary) == (False, True)


def test_customer_admin_shows_phone_numbers_and_history_to_agents(agent_client, facility):
    customer = CustomerFactory(facility=facility)
    phone = PhoneNumberFactory(lead=None, customer=customer, number="+15125550150", source="pms")
    HistoryFactory(lead=None, customer=customer, summary="Paid at the counter.")

    response = agent_client.get(admin_url(Customer, "change", customer.pk))

    assert response.status_code == 200
    formsets = {inline.formset.prefix: inline.formset for inline in response.context["inline_admin_formsets"]}
    assert [form.instance for form in formsets["phone_numbers"].forms] == [phone]
    assert "Paid at the counter." in response.content.decode()


def test_a_pms_number_cannot_be_deleted_in_admin(agent_client, facility):
    customer = CustomerFactory(facility=facility, first_name="Dana", last_name="Ruiz")
    pms = PhoneNumberFactory(lead=None, customer=customer, number="+15125550142", is_primary=True, source="pms")
    data = {
        "facility": str(facility.pk),
        "pms_id": customer.pms_id,
        "first_name": "Dana",
        "last_name": "Ruiz",
        "unit": customer.unit,
        "balance_due": str(customer.balance_due),
        **_management("phone_numbers", 1, initial=1),
        **_management("history", 0),
        "phone_numbers-0-id": str(pms.pk),
        "phone_numbers-0-customer": str(customer.pk),
        "phone_numbers-0-number": "+15125550142",
        "phone_numbers-0-label": "mobile",
        "phone_numbers-0-source": "pms",
        "phone_numbers-0-is_primary": "on",
        "phone_numbers-0-DELETE": "on",
    }

    response = agent_client.post(admin_url(Customer, "change", customer.pk), data)

    assert response.status_code == 200
    assert "comes from the property management system; change it there." in response.content.decode()
    assert PhoneNumber.objects.filter(pk=pms.pk).exists()


def test_the_organization_page_gives_its_own_opt_out_confirmation_as_the_example(manager_client, org):
    html = manager_client.get(f"/admin/interactions/organization/{org.pk}/change/").content.decode()

    assert "Blank: “Lakeside Storage: You&#x27;re unsubscribed and won&#x27;t get more texts." in html
    assert "“: You" not in html
