"""Django admin, scoped to the signed-in user's organization (superusers see every one)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ERROR_FLAG
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.utils.functional import cached_property

from .tenancy import organization_for_user, tenant_model

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
                # Agents and managers pick among their own organization's people only.
                kwargs["queryset"] = related._default_manager.filter(membership__organization=org)
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

    def changelist_view(self, request, extra_context=None):
        # Django's date drill-down turns ?created_at__year=99999 into a datetime and fails with a 500.
        if self.date_hierarchy and not _date_hierarchy_valid(request.GET, self.date_hierarchy):
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        return super().changelist_view(request, extra_context)

    def response_action(self, request, queryset):
        # Rows are picked by id: anything else (a tampered form) would fail in the database lookup.
        selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
        if not all(value.isascii() and value.isdigit() and len(value) < 19 for value in selected):
            self.message_user(request, "The selected rows were not understood; tick them again.", messages.WARNING)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)

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
            # clash is a form error rather than an IntegrityError.
            def _post_clean(self):
                self.instance.organization = organization
                super()._post_clean()

            def _get_validation_exclusions(self):
                return set(super()._get_validation_exclusions()) - {"organization"}

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


class OrganizationScopedInline(OrganizationScopeMixin, admin.TabularInline):
    """An inline on a scoped admin: members use it without Django model permissions.

    Its rows come through the parent record, which is already scoped to the organization.
    """

    extra = 0

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
