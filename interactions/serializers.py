"""REST API shapes of leads, customers, phone numbers and consent.

Serializers parse and render; the services decide (and raise ``ServiceError``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api import ModelSerializer, OrganizationScopedField, StrictCharField

from .models import Consent, ConsentEvent, Customer, Facility, Lead, PhoneNumber
from .selectors import ConsentState, consent_state_from_row, consents_by_number

CUSTOMER_STATUSES = [("current", "Current"), ("balance_due", "Balance due")]


# --- phone numbers and consent -------------------------------------------------------------


class ConsentSummarySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Consent.Status.choices, help_text="granted, revoked or none.")
    source = serializers.ChoiceField(
        choices=ConsentEvent.Source.choices, allow_null=True, help_text="Where the last change came from."
    )
    at = serializers.DateTimeField(allow_null=True, help_text="When the last change was recorded.")


def consent_summary(state: ConsentState) -> dict[str, Any]:
    return {"status": state.status, "source": state.source, "at": state.at}


class PhoneNumberSerializer(ModelSerializer):
    """A saved number with its consent. Give ``context["consents"]`` to render a page without N+1."""

    number = StrictCharField(source="e164", read_only=True, help_text="E.164, e.g. +15125550142.")
    consent = serializers.SerializerMethodField()
    line_type = StrictCharField(
        read_only=True,
        help_text="What a line-type lookup found: mobile, landline, fixed_voip, non_fixed_voip, toll_free, personal, "
        "pager, voicemail or unknown; empty until it is looked up.",
    )
    not_textable = StrictCharField(
        read_only=True,
        help_text="Why the number cannot get texts (a landline, or the carrier said so), in plain words; "
        "empty when it can. A send to it is refused with code not_textable.",
    )

    class Meta:
        model = PhoneNumber
        fields = [
            "id",
            "number",
            "label",
            "is_primary",
            "source",
            "consent",
            "line_type",
            "line_type_checked_at",
            "not_textable",
            "confirmed_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ConsentSummarySerializer)
    def get_consent(self, obj: PhoneNumber) -> dict[str, Any]:
        consents = self.context.get("consents")
        if consents is None:
            consents = consents_by_number(organization=obj.organization_id, numbers=[obj])
        row = consents.get(obj.e164)
        if row is None:
            return {"status": Consent.Status.NONE, "source": None, "at": None}
        return consent_summary(consent_state_from_row(row))


class PhoneNumberDetailSerializer(PhoneNumberSerializer):
    class Meta(PhoneNumberSerializer.Meta):
        fields = [*PhoneNumberSerializer.Meta.fields, "lead", "customer", "created_at", "updated_at"]
        read_only_fields = fields


class PhoneNumberCreateSerializer(serializers.Serializer):
    lead = OrganizationScopedField(Lead, required=False, allow_null=True, help_text="Give a lead or a customer.")
    customer = OrganizationScopedField(Customer, required=False, allow_null=True)
    number = StrictCharField(max_length=64, help_text="E.164 (+15125550142) or a US format.")
    label = serializers.ChoiceField(choices=PhoneNumber.Label.choices, default=PhoneNumber.Label.MOBILE)
    is_primary = serializers.BooleanField(default=False, help_text="Make it the record's primary number.")

    def validate(self, attrs):
        if bool(attrs.get("lead")) == bool(attrs.get("customer")):
            raise serializers.ValidationError({"lead": "Give either a lead or a customer (exactly one)."})
        return attrs


class NewNumberSerializer(serializers.Serializer):
    number = StrictCharField(max_length=64, help_text="E.164 (+15125550142) or a US format.")
    label = serializers.ChoiceField(choices=PhoneNumber.Label.choices, default=PhoneNumber.Label.MOBILE)
    is_primary = serializers.BooleanField(default=False)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "description": "The id of a number saved on a lead or customer."},
            {"type": "string", "description": "A phone number, E.164 preferred.", "example": "+15125550142"},
        ]
    }
)
class PhoneNumberRefField(serializers.Field):
    """A saved number's id (JSON integer) or a phone number (JSON string, E.164 preferred)."""

    default_error_messages = {
        "invalid": "Give a saved number’s id (an integer) or a phone number as a string, like +15125550142.",
        "does_not_exist": "No saved number with id {value} in your organization.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        if isinstance(data, int):
            phone = PhoneNumber.objects.filter(organization=self.context["organization"], pk=data).first()
            if phone is None:
                self.fail("does_not_exist", value=data)
            return phone.number
        if "\x00" in data or len(data) > 64:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return str(value)


# --- consent ------------------------------------------------------------------------------


class ConsentRequestSerializer(serializers.Serializer):
    phone_number = PhoneNumberRefField(
        help_text="A saved number's id (integer) or a phone number (string, E.164 preferred)."
    )
    action = serializers.ChoiceField(choices=[("grant", "Grant"), ("revoke", "Revoke")])
    evidence = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        default="",
        help_text="How the person gave permission (required to grant), or why it is withdrawn.",
    )


class ConsentEventSerializer(ModelSerializer):
    actor = serializers.SerializerMethodField(
        help_text="Username of who recorded it (null: the system or the person, or a since-deleted user)."
    )
    actor_name = StrictCharField(
        read_only=True, help_text="Who recorded it, as named at the time ('' : the system or the person)."
    )
    at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = ConsentEvent
        fields = ["id", "action", "source", "evidence", "actor", "actor_name", "ip_address", "user_agent", "at"]
        read_only_fields = fields

    def get_actor(self, obj: ConsentEvent) -> str | None:
        return obj.actor.get_username() if obj.actor_id else None


class ConsentFeedEventSerializer(ConsentEventSerializer):
    number = StrictCharField(read_only=True, help_text="E.164.")

    class Meta(ConsentEventSerializer.Meta):
        fields = [
            "id",
            "number",
            "action",
            "source",
            "evidence",
            "actor",
            "actor_name",
            "ip_address",
            "user_agent",
            "at",
        ]
        read_only_fields = fields


class ConsentFeedSerializer(serializers.Serializer):
    results = ConsentFeedEventSerializer(many=True)
    next = StrictCharField(allow_null=True, help_text="The URL of the next page; null at the end of the feed.")
    cursor = serializers.IntegerField(
        allow_null=True, help_text="Keep this and ask `?after=<cursor>` later for the events recorded since."
    )


class ConsentFeedQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(
        required=False, min_value=0, max_value=2**63 - 1, help_text="Only events after this id (the last `cursor`)."
    )
    number = StrictCharField(required=False, help_text="Only this number's events (E.164 or US format).")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)


class ConsentStateSerializer(serializers.Serializer):
    number = StrictCharField(help_text="E.164.")
    status = serializers.ChoiceField(choices=Consent.Status.choices)
    source = serializers.ChoiceField(choices=ConsentEvent.Source.choices, allow_null=True)
    at = serializers.DateTimeField(allow_null=True)
    opted_out_at = serializers.DateTimeField(
        allow_null=True, help_text="Set while the person's own opt-out is in force: only their START re-opts in."
    )
    history = ConsentEventSerializer(many=True, help_text="The ledger for this number, newest first.")


class ConsentQuerySerializer(serializers.Serializer):
    number = StrictCharField(max_length=64, help_text="The phone number, e.g. +15125550142.")


# --- leads and customers -------------------------------------------------------------------


class PersonSerializer(ModelSerializer):
    facility = OrganizationScopedField(Facility, help_text="The id of one of your organization's facilities.")
    phone_numbers = PhoneNumberSerializer(many=True, read_only=True)


class LeadSerializer(PersonSerializer):
    class Meta:
        model = Lead
        fields = [
            "id",
            "facility",
            "first_name",
            "last_name",
            "email",
            "status",
            "source",
            "state",
            "postal_code",
            "phone_numbers",
            "created_at",
            "updated_at",
            "archived_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at", "archived_at"]


class CustomerSerializer(PersonSerializer):
    status = serializers.SerializerMethodField(help_text="balance_due when the customer owes money, else current.")

    class Meta:
        model = Customer
        fields = [
            "id",
            "facility",
            "pms_id",
            "first_name",
            "last_name",
            "unit",
            "balance_due",
            "state",
            "postal_code",
            "status",
            "phone_numbers",
            "created_at",
            "updated_at",
            "archived_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at", "archived_at"]
        validators = []  # a duplicate PMS id is reported by the service, naming pms_id

    @extend_schema_field(serializers.ChoiceField(choices=CUSTOMER_STATUSES))
    def get_status(self, obj: Customer) -> str:
        return "balance_due" if obj.balance_due > 0 else "current"


class LeadCreateSerializer(LeadSerializer):
    phone_numbers = NewNumberSerializer(
        many=True, required=False, help_text="Numbers to save with the lead (the first is primary unless one says so)."
    )


class CustomerCreateSerializer(CustomerSerializer):
    phone_numbers = NewNumberSerializer(
        many=True,
        required=False,
        help_text="Numbers to save with the customer; they are `local` (not sent to the PMS).",
    )


class LeadUpdateSerializer(LeadSerializer):
    class Meta(LeadSerializer.Meta):
        fields = [f for f in LeadSerializer.Meta.fields if f != "phone_numbers"]


class CustomerUpdateSerializer(CustomerSerializer):
    class Meta(CustomerSerializer.Meta):
        fields = [f for f in CustomerSerializer.Meta.fields if f not in ("phone_numbers", "status")]
