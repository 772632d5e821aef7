"""Django admin for managers: webhook endpoints, their delivery log (with redeliver), API keys.

Writes go through ``integrations.services`` like the API's; agents don't see these pages.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from core.admin import OrganizationScopedAdmin, OrganizationScopedInline, ReadOnlyScopedAdmin
from core.errors import ServiceError

from .destinations import destination_refusal
from .models import ApiKey, EventType, WebhookAttempt, WebhookDelivery, WebhookEndpoint, secret_masked
from .services import (
    api_key_create,
    api_key_revoke,
    delivery_redeliver,
    endpoint_create,
    endpoint_rotate_secret,
    endpoint_rotation_end,
    endpoint_send_test,
    endpoint_update,
)


class ManagersOnly:
    """Pages only managers (and superusers) see at all: secrets and keys are not for every agent.

    A superuser belongs to no organization: the add form asks which one.
    """

    def _organization(self, request, form):
        return form.cleaned_data.get("organization") or self._org(request)

    def _with_organization(self, request, fields: list[str]) -> list[str]:
        return ["organization", *fields] if request.user.is_superuser else fields

    def _member(self, request) -> bool:
        membership = getattr(request.user, "membership", None)
        return request.user.is_active and (
            request.user.is_superuser or (membership is not None and membership.is_manager)
        )


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        label="URL", max_length=500, assume_scheme="https", help_text="https://… (events are POSTed here)."
    )
    # Each box names the event as the payload's `type` and the README's catalog spell it, then what it means.
    events = forms.MultipleChoiceField(
        choices=[(value, f"{value} — {label}") for value, label in EventType.choices],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        refusal = destination_refusal(url)
        if refusal:
            raise ValidationError(refusal, code="invalid_url")
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ManagersOnly, OrganizationScopedAdmin):
    form = WebhookEndpointForm
    manager_only = True
    list_display = ["url", "active", "failing_since", "disabled_at", "updated_at"]
    list_filter = ["active"]
    # The signing secret is shown once, when it is made (creation, rotation); afterwards only its end, to tell
    # which one a receiver holds.
    readonly_fields = [
        "signing_secret",
        "previous_secret_expires_at",
        "failing_since",
        "disabled_at",
        "disabled_reason",
    ]
    actions = ["send_test", "rotate_secret", "end_rotation"]

    @admin.display(description="signing secret")
    def signing_secret(self, obj: WebhookEndpoint) -> str:
        return secret_masked(obj.secret)

    def get_fields(self, request, obj=None):
        fields = ["url", "description", "events", "active"]
        return self._with_organization(request, fields) if obj is None else [*fields, *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in ("url", "description", "events", "active")}
        try:
            if change:
                saved = endpoint_update(endpoint=obj, **data)
            else:
                saved = endpoint_create(organization=self._organization(request, form), **data)
                messages.success(
                    request,
                    f"Signing secret of the new endpoint: {saved.secret} — copy it now into your receiver: "
                    "it is not shown again (only its last characters are). Lost, it can be rotated.",
                )
        except ServiceError as exc:  # the form checked the URL already; a race with DNS lands here
            messages.error(request, exc.message)
            raise
        obj.pk, obj.secret = saved.pk, saved.secret

    @admin.action(description="Send a test event (webhook.test) to each")
    def send_test(self, request, queryset):
        for endpoint in queryset:
            try:
                delivery = endpoint_send_test(endpoint=endpoint)
            except ServiceError as exc:
                self.message_user(request, f"{endpoint.url}: {exc.message}", level=messages.ERROR)
                continue
            self.message_user(
                request, f"Test event queued to {endpoint.url}: delivery {delivery.pk} (see Webhook deliveries)."
            )

    @admin.action(description="End the rotation now: the old secret stops signing")
    def end_rotation(self, request, queryset):
        ended = 0
        for endpoint in queryset.exclude(previous_secret=""):
            endpoint_rotation_end(endpoint=endpoint)
            ended += 1
        self.message_user(request, f"Ended {ended} rotation(s): only the new secrets sign now.")

    @admin.action(description="Rotate the signing secret (the old one signs too for 24 hours)")
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            rotated = endpoint_rotate_secret(endpoint=endpoint)
            messages.warning(request, f"New signing secret of {rotated.url}, shown this once: {rotated.secret}")


class WebhookAttemptInline(ManagersOnly, OrganizationScopedInline):
    """A delivery's attempts, newest first: read-only (the worker writes them)."""

    model = WebhookAttempt
    fields = readonly_fields = list(WebhookAttempt.LOG_FIELDS)
    ordering = ["-id"]
    can_delete = False

    def has_add_permission(self, request, obj):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ManagersOnly, ReadOnlyScopedAdmin):
    """Every attempt of every delivery (kept ``WEBHOOK_RETENTION_DAYS``), newest first."""

    list_display = ["attempted_at", "delivery", "status_code", "duration_ms", "error"]
    list_filter = ["status_code"]
    list_select_related = ["delivery__event", "delivery__endpoint"]
    fields = readonly_fields = ["delivery", *WebhookAttempt.LOG_FIELDS]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ManagersOnly, ReadOnlyScopedAdmin):
    list_display = ["id", "event_type", "endpoint", "status", "attempts", "last_status_code", "updated_at"]
    list_filter = ["status", "endpoint"]
    list_select_related = ["event", "endpoint"]
    readonly_fields = list(WebhookDelivery.LOG_FIELDS)
    fields = readonly_fields
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    @admin.display(description="event")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type

    @admin.action(description="Send again (same event id)")
    def redeliver(self, request, queryset):
        sent = 0
        for delivery in queryset.select_related("endpoint"):
            try:
                delivery_redeliver(delivery=delivery)
                sent += 1
            except ServiceError as exc:
                self.message_user(request, f"{delivery.pk}: {exc.message}", level=messages.ERROR)
        self.message_user(request, f"{sent} delivery(ies) queued again.")


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "role", "expires_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(ManagersOnly, OrganizationScopedAdmin):
    form = ApiKeyForm
    manager_only = True
    list_display = ["name", "role", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["role"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return self._with_organization(request, ["name", "role", "expires_at"])
        return ["name", "role", "prefix", "created_by", "created_at", "expires_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)  # keys are revoked, not edited

    def has_delete_permission(self, request, obj=None):
        return False  # records name the key's user: revoke instead

    def save_model(self, request, obj, form, change):
        try:
            api_key, key = api_key_create(
                organization=self._organization(request, form),
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                expires_at=form.cleaned_data.get("expires_at"),
                created_by=request.user,
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
            raise
        obj.pk = api_key.pk
        messages.warning(request, f"The key, shown this once: {key}")

    @admin.action(description="Revoke (stops working at once)")
    def revoke(self, request, queryset):
        revoked = 0
        for api_key in queryset:
            try:
                api_key_revoke(api_key=api_key, by=request.user)
                revoked += 1
            except ServiceError as exc:
                self.message_user(request, f"{api_key}: {exc.message}", level=messages.ERROR)
        self.message_user(request, f"Revoked {revoked} key(s).")
