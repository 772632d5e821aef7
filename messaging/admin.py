"""Django admin for templates (managers edit, agents read), the message log and unsubscribe links."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.admin import OrganizationScopedAdmin, ReadOnlyScopedAdmin
from core.errors import ServiceError

from .backends.twilio_setup import SetupUnreadable
from .models import ConversationNote, Media, Message, MessageTemplate, UnsubscribeLink, tokens_masked
from .rendering import MERGE_FIELDS, template_validate
from .selectors.provider_setup import inbound_webhook_url, twilio_setup_findings
from .services import (
    media_check,
    media_create,
    message_reconcile,
    template_picture_set,
    template_preview,
    template_sample_person,
    templates_flag_clear,
)

MERGE_FIELD_HELP = "Merge fields you can use: " + ", ".join(
    f"{{{{ {name} }}}} ({meaning})" for name, meaning in MERGE_FIELDS.items()
)


class MessageTemplateForm(forms.ModelForm):
    picture = forms.FileField(
        required=False,
        label="New picture",
        help_text="A picture sent with every text from this template (JPEG, PNG, GIF or WebP; at most 5 MB). "
        "Its location and camera details are removed before it is stored.",
    )
    remove_picture = forms.BooleanField(required=False, label="Send this template without its picture")

    class Meta:
        model = MessageTemplate
        fields = ["name", "category", "body", "active"]
        widgets = {"body": forms.Textarea(attrs={"rows": 6, "cols": 80})}
        help_texts = {"body": MERGE_FIELD_HELP + ". The unsubscribe link is added to every text automatically."}

    def clean_body(self) -> str:
        body = self.cleaned_data.get("body", "")
        try:
            template_validate(body)
        except ServiceError as exc:
            raise ValidationError(exc.message, code=exc.code) from exc
        return body

    def clean_picture(self):
        upload = self.cleaned_data.get("picture")
        if upload:
            try:
                media_check(file=upload, name=upload.name or "picture")
            except ServiceError as exc:
                raise ValidationError(exc.message, code=exc.code) from exc
            upload.seek(0)
        return upload


@admin.register(MessageTemplate)
class MessageTemplateAdmin(OrganizationScopedAdmin):
    form = MessageTemplateForm
    manager_only = True
    list_display = ["name", "category", "active", "preview_figures", "flagged_at", "updated_at"]
    list_filter = ["category", "active", ("flagged_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "body"]
    readonly_fields = ["preview", "current_picture", "flagged_at", "flag_reason"]
    actions = ["clear_flag"]

    class Media:
        css = {"all": ["css/admin.css"]}
        js = ["js/template_preview.js"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        upload = form.cleaned_data.get("picture")
        if upload or form.cleaned_data.get("remove_picture"):
            media = (
                media_create(organization=obj.organization, file=upload, name=upload.name, created_by=request.user)
                if upload
                else None
            )
            template_picture_set(template=obj, media=media)

    def get_fields(self, request, obj=None):
        fields = ["name", "category", "body", "active", "current_picture", "picture", "remove_picture", "preview"]
        if request.user.is_superuser:
            fields.insert(0, "organization")
        if obj is not None and obj.flagged_at:
            # A carrier filtered a text from it as spam (30007): the manager reviews the wording.
            fields += ["flagged_at", "flag_reason"]
        return fields

    @admin.action(description="Clear the carrier's spam flag (wording reviewed)")
    def clear_flag(self, request, queryset):
        cleared = templates_flag_clear(templates=queryset)
        self.message_user(request, f"{cleared} template(s) cleared.", messages.INFO)

    def get_changelist_instance(self, request):
        # Render every listed template for one sample record per organization, not one lookup per row.
        changelist = super().get_changelist_instance(request)
        samples: dict[int, object] = {}
        for template in changelist.result_list:
            if template.organization_id not in samples:
                samples[template.organization_id] = template_sample_person(organization=template.organization)
            template.sample_person = samples[template.organization_id]
        return changelist

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organization")

    def _draft(self, obj):
        if obj is None or not obj.pk:
            return None
        try:
            return template_preview(
                organization=obj.organization, body=obj.body, person=getattr(obj, "sample_person", None)
            )
        except ServiceError:
            return None

    @admin.display(description="Picture")
    def current_picture(self, obj):
        if obj is None or not obj.media_id:
            return "None: the template sends a plain text."
        return picture_thumbnail(obj.media)

    @admin.display(description="Preview (sample record, link included)")
    def preview(self, obj):
        """The saved body filled in for a sample record; js/template_preview.js refreshes it as the body is typed,
        through ``template_preview_live`` (the same service and the same fragment)."""
        draft = self._draft(obj)
        return format_html(
            '<div class="template-preview" data-template-preview data-url="{}" data-template="{}" aria-live="polite">'
            "{}</div>",
            reverse("template_preview_live"),
            obj.pk if obj is not None and obj.pk else "",
            render_to_string("messaging/_template_preview.html", {"draft": draft, "error": ""}),
        )

    @admin.display(description="Length (sample)")
    def preview_figures(self, obj):
        draft = self._draft(obj)
        if draft is None:
            return "—"
        return f"{draft.measure.characters} chars · {draft.measure.encoding} · {draft.measure.segments} seg"


def picture_thumbnail(media: Media):
    url = reverse("media_content", kwargs={"media_id": media.pk})
    return format_html(
        '<a href="{}"><img class="picture-thumb" src="{}" alt="Picture {}"></a><br>{} · {}×{} · {} KB',
        url,
        url,
        media.pk,
        media.content_type,
        media.width,
        media.height,
        (media.size + 1023) // 1024,
    )


@admin.register(Media)
class MediaAdmin(ReadOnlyScopedAdmin):
    """Pictures sent and received: evidence like the texts that carry them, read-only."""

    list_display = ["id", "thumbnail", "content_type", "size", "width", "height", "source", "created_at"]
    list_filter = ["source", "content_type"]
    fields = ("thumbnail", "content_type", "size", "width", "height", "sha256", "source", "created_by",
              "created_at", "provider_sid", "provider_deleted_at", "provider_delete_error")  # fmt: skip
    readonly_fields = fields

    class Media:
        css = {"all": ["css/admin.css"]}

    @admin.display(description="Picture")
    def thumbnail(self, obj):
        return picture_thumbnail(obj)


@admin.register(Message)
class MessageAdmin(ReadOnlyScopedAdmin):
    """The message log: read-only, scoped to the organization."""

    list_display = [
        "created_at",
        "direction",
        "to_number",
        "from_number",
        "status",
        "segments",
        "error_code",
        "actor_name",
        "flagged_as_spam",
    ]
    # By date through a filter, not date_hierarchy: its drill-down reads every text for the months it offers.
    list_filter = [("created_at", admin.DateFieldListFilter), "status", "direction", "encoding", "flagged_as_spam"]
    search_fields = ["to_number", "from_number", "body", "provider_sid"]
    list_select_related = ["organization"]
    ordering = ["-id"]  # message_org_id
    actions = ["reconcile"]

    def get_fields(self, request, obj=None):
        # The body as sent ends with the person's unsubscribe link: shown with the token cut short.
        return [name if name != "body" else "text" for name in super().get_fields(request, obj)]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "text"]

    @admin.display(description="body")
    def text(self, obj: Message) -> str:
        return tokens_masked(obj.body)

    @admin.action(
        description="Look the selected stuck texts up at the provider (never resends)", permissions=["reconcile"]
    )
    def reconcile(self, request, queryset):
        settled = 0
        for message in queryset.filter(status__in=[Message.Status.SENDING, Message.Status.NEEDS_RECONCILIATION]):
            if message_reconcile(message_id=message.pk) in (Message.Status.SENT, Message.Status.QUEUED):
                settled += 1
        self.message_user(request, f"{settled} text(s) settled.", messages.INFO)

    def has_reconcile_permission(self, request) -> bool:
        """Managers and superusers see and may run ``reconcile``: the action's documented ``permissions``,
        not an override of ``get_actions`` (whose signature Django 6.1 changed)."""
        return request.user.is_superuser or getattr(getattr(request.user, "membership", None), "is_manager", False)

    def get_urls(self):
        setup = path("twilio-setup/", self.admin_site.admin_view(self.twilio_setup), name="messaging_twilio_setup")
        return [setup, *super().get_urls()]

    def twilio_setup(self, request):
        """Each sender's incoming-message webhook as Twilio holds it (``check_twilio``): a
        superuser sees every organization's, a manager their own; agents are refused."""
        membership = getattr(request.user, "membership", None)
        if not (request.user.is_superuser or getattr(membership, "is_manager", False)):
            raise PermissionDenied
        organization = None if request.user.is_superuser else self._org(request)
        context = {**self.admin_site.each_context(request), "title": "Twilio setup", "expected": inbound_webhook_url()}
        try:
            findings = twilio_setup_findings(organization=organization)
        except SetupUnreadable as exc:
            context["unreadable"] = f"Twilio could not be asked: {exc}"
        else:
            context.update(findings=findings, problems=sum(not f.ok for f in findings))
        return TemplateResponse(request, "admin/messaging/twilio_setup.html", context)


@admin.register(UnsubscribeLink)
class UnsubscribeLinkAdmin(ReadOnlyScopedAdmin):
    """Whether a number's link was used, and when. The token is the person's credential: staff never see it whole,
    and search finds a link by its whole token only (a part would let one guess it character by character)."""

    list_display = ["number", "link", "created_at", "used_at"]
    fields = ["number", "link", "created_at", "used_at"]
    readonly_fields = ["number", "link", "created_at", "used_at"]
    search_fields = ["number", "=token"]

    @admin.display(description="link")
    def link(self, obj: UnsubscribeLink) -> str:
        return str(obj)


@admin.register(ConversationNote)
class ConversationNoteAdmin(ReadOnlyScopedAdmin):
    """The team's notes on conversations (written in the inbox, never texted): read-only, like the record."""

    list_display = ["created_at", "author_name", "lead", "customer", "body"]
    list_select_related = ["lead", "customer"]
    fields = ["created_at", "author_name", "lead", "customer", "body"]
    readonly_fields = ["created_at", "author_name", "lead", "customer", "body"]
