"""factory-boy factories for every model; one organization per factory chain."""

from __future__ import annotations

import datetime

import factory
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from interactions.models import (
    Customer,
    Facility,
    History,
    Lead,
    Membership,
    Organization,
    PhoneNumber,
)
from messaging.models import Message, MessageTemplate
from workflows.models import Workflow, WorkflowStep


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Storage Org {n}")
    slug = factory.Sequence(lambda n: f"storage-org-{n}")
    # The tests' organizations send their own STOP confirmation unless a test says Twilio does.
    twilio_replies_to_stop = False


def _sender_number(n: int) -> str:
    """The fixtures' sender number for a test's first facility; a number of its own for each later one.

    A sender number belongs to one facility across the install (a unique constraint).
    """
    if not Facility.objects.filter(sms_sender_number="+15125550199").exists():
        return "+15125550199"
    return f"+1737555{n % 10000:04d}"


class FacilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Facility

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Facility {n}")
    time_zone = "America/Chicago"
    phone = "+15125550100"
    sms_sender_number = factory.Sequence(_sender_number)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Alex"
    last_name = "Agent"
    is_staff = True
    # Hashed before the row is saved: a post-generation set_password would leave the stored
    # hash stale, and force_login()'s session would not match it.
    password = factory.django.Password("pw-12345!")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.AGENT


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    facility = factory.SubFactory(FacilityFactory)
    organization = factory.SelfAttribute("facility.organization")
    first_name = factory.Sequence(lambda n: f"Lee{n}")
    last_name = "Lead"
    email = factory.LazyAttribute(lambda o: f"{o.first_name.lower()}@example.com")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    facility = factory.SubFactory(FacilityFactory)
    organization = factory.SelfAttribute("facility.organization")
    pms_id = factory.Sequence(lambda n: f"PMS-{n}")
    first_name = factory.Sequence(lambda n: f"Cass{n}")
    last_name = "Customer"
    unit = "B204"


class PhoneNumberFactory(factory.django.DjangoModelFactory):
    """A primary number on a new lead unless ``lead``/``customer`` is given."""

    class Meta:
        model = PhoneNumber

    lead = factory.SubFactory(LeadFactory)
    customer = None
    organization = factory.LazyAttribute(lambda o: (o.lead or o.customer).organization)
    number = factory.Sequence(lambda n: f"+1512555{n % 10000:04d}")
    label = PhoneNumber.Label.MOBILE
    is_primary = True
    source = PhoneNumber.Source.LOCAL


class HistoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = History

    lead = factory.SubFactory(LeadFactory)
    customer = None
    organization = factory.LazyAttribute(lambda o: (o.lead or o.customer).organization)
    kind = History.Kind.CALL
    occurred_at = factory.Faker("date_time_this_month", tzinfo=__import__("datetime").UTC)
    summary = "Asked about unit sizes."


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessageTemplate

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Template {n}")
    category = MessageTemplate.Category.GENERAL
    body = "Hi {{ first_name }}, this is {{ facility_name }}."


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    phone_number = factory.SubFactory(PhoneNumberFactory)
    organization = factory.SelfAttribute("phone_number.organization")
    lead = factory.LazyAttribute(lambda o: o.phone_number.lead)
    customer = factory.LazyAttribute(lambda o: o.phone_number.customer)
    to_number = factory.LazyAttribute(lambda o: o.phone_number.number)
    from_number = "+15125550199"
    body = "Hello"
    status = Message.Status.QUEUED

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """Saved as the app's services save a text: with its person's conversation summary."""
        from messaging.services import conversation_touch

        with transaction.atomic():
            message = super()._create(model_class, *args, **kwargs)
            conversation_touch(message)
        return message


class ReplyFactory(MessageFactory):
    """A text received from ``phone_number`` (a reply), as the inbound webhook stores it: the tests' one
    inbound-text builder. ``flagged=True``: the webhook flagged it as a plain-words request not to be texted;
    ``minutes_ago``: when it arrived."""

    class Params:
        flagged = factory.Trait(flagged_opt_out_request=True)
        minutes_ago = 0

    direction = Message.Direction.INBOUND
    status = Message.Status.RECEIVED
    to_number = "+15125550199"
    from_number = factory.LazyAttribute(lambda o: o.phone_number.number)
    received_at = factory.LazyAttribute(lambda o: timezone.now() - datetime.timedelta(minutes=o.minutes_ago))


class WorkflowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workflow

    organization = factory.SubFactory(OrganizationFactory)
    kind = Workflow.Kind.COLLECTION
    name = factory.Sequence(lambda n: f"Workflow {n}")


class WorkflowStepFactory(factory.django.DjangoModelFactory):
    """A step; a text step gets a template of the workflow's organization unless one is given."""

    class Meta:
        model = WorkflowStep

    workflow = factory.SubFactory(WorkflowFactory)
    organization = factory.SelfAttribute("workflow.organization")
    day_offset = 0
    time_of_day = datetime.time(10, 0)
    action = WorkflowStep.Action.AUTOMATIC_TEXT
    template = factory.Maybe(
        factory.LazyAttribute(lambda o: o.action != WorkflowStep.Action.CALL_REMINDER),
        yes_declaration=factory.SubFactory(
            MessageTemplateFactory, organization=factory.SelfAttribute("..workflow.organization")
        ),
        no_declaration=None,
    )
