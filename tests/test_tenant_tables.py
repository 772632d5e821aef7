"""Every tenant table carries ``organization_id``, read from the app registry.

Sharding by organization (docs/ARCHITECTURE.md "Growth") and every tenancy filter rely on it: a
row whose organization can only be found through a join cannot be placed on its organization's
shard, nor filtered without that join. So every model of the project's own apps has a non-null
foreign key named ``organization`` to ``Organization``, unless it is listed below with the reason:
reached through a non-null parent that carries it, or not a tenant's row at all. A new model
lands in neither and this test names it.
"""

from __future__ import annotations

from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import models

from interactions.models import Organization

# Reached through a parent: the field named is a non-null foreign key to a tenant table, and the
# rows are always read and written through that parent (a workflow's steps, an enrollment's runs).
THROUGH_PARENT = {
    "workflows.WorkflowStep": "workflow",  # a workflow's steps: edited and read only with their workflow
    "workflows.StepRun": "enrollment",  # an enrollment's runs: written by the materialiser per enrollment
}
# Not a tenant's rows: the tenant itself and the cluster's own bookkeeping (one row per job or counter,
# shared by every organization; on a sharded cluster they live on the coordinator).
NOT_TENANT = {
    "interactions.Organization": "the tenant itself",
    "ops.Heartbeat": "a periodic job's last run, one row per job for the whole cluster",
    "ops.OutboxTally": "the outbox's totals for /metrics, one row for the whole cluster",
    "ops.OutboxDelta": "changes to those totals waiting to be added in, cluster-wide like them",
}


def _project_models() -> list[type[models.Model]]:
    base = Path(settings.BASE_DIR).resolve()
    found = []
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if base in path.parents and ".venv" not in path.parts:
            found.extend(config.get_models())
    return found


def _organization_fk(model: type[models.Model]) -> models.Field | None:
    field = next((f for f in model._meta.concrete_fields if f.name == "organization"), None)
    if field is None or not field.is_relation or field.related_model is not Organization:
        return None
    return field


def test_every_tenant_model_has_a_non_null_organization_key():
    missing = []
    for model in _project_models():
        label = model._meta.label
        if label in NOT_TENANT or label in THROUGH_PARENT:
            continue
        field = _organization_fk(model)
        if field is None or field.null:
            missing.append(label)
    assert missing == [], f"models without a non-null organization foreign key (add one, or list why): {missing}"


def test_each_model_reached_through_a_parent_has_a_non_null_key_to_a_tenant_table():
    for label, parent in THROUGH_PARENT.items():
        model = apps.get_model(label)
        field = model._meta.get_field(parent)
        assert field.is_relation and not field.null, f"{label}.{parent} must be a non-null foreign key"
        assert _organization_fk(field.related_model) is not None, f"{label}.{parent} must lead to a tenant table"
        assert _organization_fk(model) is None, f"{label} carries organization now: take it off the list"


def test_the_exemption_lists_name_only_existing_models_and_stay_short():
    labels = {m._meta.label for m in _project_models()}
    stale = sorted((set(THROUGH_PARENT) | set(NOT_TENANT)) - labels)
    assert stale == [], f"listed models that no longer exist: {stale}"
    assert len(THROUGH_PARENT) + len(NOT_TENANT) <= 8, "the exemption lists should stay short"
