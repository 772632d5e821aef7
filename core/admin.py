"""Django admin, scoped to the signed-in user's organization (superusers see every one)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ERROR_FLAG
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.functional import cached_property

from .tenancy import organization_for_user, people_of, tenant_model

if TYPE_CHECKING:
    from interactions.models import Organization


def _date_hierarchy_valid(params, field: str) -> bool:
    limits = {"year": (1, 9999), "month": (1, 12), "day": (1, 31)}
    for part, (low, high) in limits.items():
        value = params.get(f"{field}__{part}")
        if value is None:
            continue
        if not (value.isascii() and value.isdigit() and low <= int(value) <= high):
            return False
    return True


def _related_only(model: type[models.Model], entry):
    """A list_filter entry, with Django's related-field filter swapped for the one that lists only rows in use.

    ``RelatedFieldListFilter`` (what a bare relation name gets) offers every row of the related table,
    every organization's; ``RelatedOnlyFieldListFilter`` offers those the (scoped) changelist points at.
    """
    if isinstance(entry, str):
        name, filter_class = entry, None
    elif isinstance(entry, tuple | list) and len(entry) == 2 and isinstance(entry[0], str):
        name, filter_class = entry
    else:
        return entry  # a SimpleListFilter: it picks its own choices
    if filter_class not in (None, admin.RelatedFieldListFilter):
        return entry
    field = None
    for part in name.split("__"):
        field = model._meta.get_field(part)
        model = field.related_model or model
    return (name, admin.RelatedOnlyFieldListFilter) if field is not None and field.is_relation else entry


class OrganizationScopeMixin:
    """Who may use an admin page, and which rows its dropdowns offer, for the signed-in user."""

    manager_only = False

    def _org(self, request: HttpRequest) -> Organization | None:
        return organization_for_user(request.user)

    def _member(self, request: HttpRequest) -> bool:
        return request.user.is_active and (request.user.is_superuser or self._org(request) is not None)

    def _can_edit(self, request: HttpRequest) -> bool:
        if request.user.is_superuser:
            return True
        membership = getattr(request.user, "membership", None)
        return membership is not None and (membership.is_manager or not self.manager_only)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if not request.user.is_superuser and related is not None:
            org = self._org(request)
            if related is tenant_model():
                kwargs["queryset"] = related._default_manager.filter(pk=getattr(org, "pk", None))
            elif related is get_user_model():
                # Agents and managers pick among their own organization's people only (never an API key's user).
                kwargs["queryset"] = people_of(org)
            elif any(f.name == "organization" for f in related._meta.fields):
                kwargs["queryset"] = related._default_manager.filter(organization=org)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class BoundedCountPaginator(Paginator):
    """A changelist's pages with the count stopped at ``COUNT_CAP`` rows (shown as that many).

    Counting every row of a list of millions of texts or people read the whole table on each
    page; past ten thousand rows the exact total tells nobody anything (filters and search do).
    """

    COUNT_CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.COUNT_CAP].count()


class OrganizationScopedAdmin(OrganizationScopeMixin, admin.ModelAdmin):
    """Shows and edits only the rows of the user's organization; fills it in on save.

    ``manager_only`` admins are read-only for agents. Another organization's row is simply
    not in the queryset, so its change, delete and history pages answer 404 like everywhere else.
    Pages read their rows in ``-id`` order through the model's ``(organization, id)`` index where
    it has one, and count at most ``BoundedCountPaginator.COUNT_CAP`` of them.
    """

    organization_field = "organization"
    paginator = BoundedCountPaginator
    show_full_result_count = False  # the unfiltered total: a second count of everything

    def has_module_permission(self, request):
        return self._member(request)

    def has_view_permission(self, request, obj=None):
        return self._member(request)

    def has_add_permission(self, request, *args):
        return self._member(request) and self._can_edit(request)

    def has_change_permission(self, request, obj=None):
        return self._member(request) and self._can_edit(request)

    def has_delete_permission(self, request, obj=None):
        return self._member(request) and self._can_edit(request)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        org = self._org(request)
        return qs.filter(**{self.organization_field: org}) if org else qs.none()

    def get_list_filter(self, request):
        return [_related_only(self.model, entry) for entry in super().get_list_filter(request)]

    def changelist_view(self, request, extra_context=None):
        # Django's date drill-down turns ?created_at__year=99999 into a datetime and fails with a 500.
        if self.date_hierarchy and not _date_hierarchy_valid(request.GET, self.date_hierarchy):
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        return super().changelist_view(request, extra_context)

    def response_action(self, request, queryset, **kwargs):
        # Rows are picked by id: anything else (a tampered form) would fail in the database lookup.
        # (Django 6.1 passes ``action_location`` too: whatever it passes goes on unchanged.)
        selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
        if not all(value.isascii() and value.isdigit() and len(value) < 19 for value in selected):
            self.message_user(request, "The selected rows were not understood; tick them again.", messages.WARNING)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset, **kwargs)

    def get_object(self, request, object_id, from_field=None):
        # Django's admin redirects to its index when the row is missing; another
        # organization's id must answer 404 (docs/ARCHITECTURE.md rule 1), and so does a missing one.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with id “{object_id}”.")
        return obj

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser and self.organization_field == "organization":
            exclude.append("organization")
        return exclude

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if request.user.is_superuser or self.organization_field != "organization":
            return form
        organization = self._org(request)

        class OrganizationForm(form):
            # The organization is not on the form (it is the user's own), but constraints that
            # include it (a facility name unique per organization) must still be checked, so a
            # clash is a form error rather than an IntegrityError. The form's own check leaves
            # out fields it does not show; these constraints are checked here (each constraint's
            # documented ``validate``), on the instance the form has filled in.
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.instance.organization = organization

            def validate_unique(self):
                super().validate_unique()
                shown = {*self.fields, "organization"}
                exclude = {f.name for f in self.instance._meta.fields if f.name not in shown} | set(self.errors)
                for constraint in self.instance._meta.constraints:
                    if "organization" in getattr(constraint, "fields", ()):
                        try:
                            constraint.validate(type(self.instance), self.instance, exclude=exclude)
                        except ValidationError as exc:
                            self.add_error(None, exc)

        return OrganizationForm

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and self.organization_field == "organization":
            obj.organization = self._org(request)
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        for inline_form in formset.forms:
            instance = inline_form.instance
            if hasattr(instance, "organization_id") and not instance.organization_id:
                instance.organization_id = form.instance.organization_id
        super().save_formset(request, form, formset, change)


NOT_THIS_RECORDS_ROW = "A row posted here is not part of this record; reload the page and try again."


class ScopedInlineFormSet(BaseInlineFormSet):
    """An inline's rows are the parent record's own: a posted row id of any other record is a form error.

    Django checks a posted id against the whole table (another organization's row passes) and then edits
    a blank row in its place; here the id must be one of the parent's rows.
    """

    def add_fields(self, form, index):
        super().add_fields(form, index)
        pk_name = self.model._meta.pk.name
        field = form.fields.get(pk_name)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = self.get_queryset()
            field.error_messages = {**field.error_messages, "invalid_choice": NOT_THIS_RECORDS_ROW}

    def clean(self):
        # The id is a hidden input, so its error would show nowhere: say it above the rows.
        pk_name = self.model._meta.pk.name
        if any(pk_name in form.errors for form in self.forms):
            raise ValidationError(NOT_THIS_RECORDS_ROW, code="not_this_records_row")
        super().clean()


class OrganizationScopedInline(OrganizationScopeMixin, admin.TabularInline):
    """An inline on a scoped admin: members use it without Django model permissions.

    Its rows come through the parent record, which is already scoped to the organization, and a posted
    row id must be one of them (``ScopedInlineFormSet``).
    """

    extra = 0
    formset = ScopedInlineFormSet

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or []), "organization"]

    def has_view_permission(self, request, obj=None):
        return self._member(request)

    def has_add_permission(self, request, obj):
        return self._member(request) and self._can_edit(request)

    def has_change_permission(self, request, obj=None):
        return self._member(request) and self._can_edit(request)

    def has_delete_permission(self, request, obj=None):
        return self._member(request) and self._can_edit(request)


class ReadOnlyScopedAdmin(OrganizationScopedAdmin):
    """Append-only records (the consent ledger, history, the message log, tasks): written by services, never here.

    Nobody adds, changes or deletes them in admin, superusers included, so "delete selected" is gone too.
    """

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SuperusersOnlyAdmin(admin.ModelAdmin):
    """Install-wide tables (users, groups, tokens): superusers only; for anyone else every id is a 404.

    Django's own admins answer 403 for a row that exists and redirect for one that doesn't, which tells
    a member which ids exist; here nobody else sees a row at all.
    """

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.none()

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with id “{object_id}”.")
        return obj


def view_on_site(request: HttpRequest, content_type_id: int, object_id: str) -> HttpResponse:
    """``/admin/r/<type>/<id>/``, admin's "View on site": a redirect to the row's page, for rows its admin shows.

    Django's own view looks the id up in the whole table, so it redirected for another organization's row
    and answered 404 for a missing one (telling which ids exist). Both are the same 404 here.
    """
    content_type = ContentType.objects.filter(pk=content_type_id).first()
    model = content_type.model_class() if content_type else None
    if model is None or not admin.site.is_registered(model):
        raise Http404("No such record.")
    model_admin = admin.site.get_model_admin(model)
    try:
        canonical = str(model._meta.pk.to_python(object_id)) == object_id  # not "٣" for 3, nor "03"
    except ValidationError:
        canonical = False
    try:
        obj = model_admin.get_object(request, object_id) if canonical else None
    except Http404:
        obj = None
    if obj is None or not model_admin.has_view_or_change_permission(request, obj):
        raise Http404("No such record.")
    if not hasattr(obj, "get_absolute_url"):
        raise Http404("No such record.")
    return HttpResponseRedirect(obj.get_absolute_url())
