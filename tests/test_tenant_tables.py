"""Every tenant table carries ``organization_id``: the column a Citus cluster distributes by (docs/SCALE.md).

Sharding by organization needs each row of an organization's data to say whose it is, in a NOT NULL
column of its own, so that a row and the rows it joins live on one node. A model added without it
fails here, unless it is named below with its reason: the few tables that are not an organization's
(Citus reference or coordinator tables). A child row (a workflow's step, an enrollment's step run, a
text's picture row) carries the column too, copied from its parent when it is written.
"""

from __future__ import annotations

from django.apps import apps

from core.tenancy import TENANT_MODEL

PROJECT_APPS = ("interactions", "messaging", "workflows", "integrations", "ops")

# Not an organization's rows (docs/SCALE.md "Reference and coordinator tables").
NOT_TENANT_DATA = {
    "interactions.Organization": "the tenant itself: a reference table, on every node",
    "ops.Heartbeat": "beat's proof of life, one row for the installation: on the coordinator",
    "ops.OutboxTally": "the installation's outbox totals for /metrics: on the coordinator",
    "ops.OutboxDelta": "changes to those totals waiting to be added in: on the coordinator, like them",
}


def _models():
    return [m for m in apps.get_models() if m._meta.app_label in PROJECT_APPS and not m._meta.proxy]


def _organization_column(model):
    for field in model._meta.concrete_fields:
        if field.name == "organization":
            return field
    return None


def test_every_tenant_table_carries_a_not_null_organization_id():
    tenant = apps.get_model(TENANT_MODEL)
    missing, nullable, wrong_target = [], [], []
    for model in _models():
        label = model._meta.label
        if label in NOT_TENANT_DATA:
            continue
        field = _organization_column(model)
        if field is None:
            missing.append(label)
        elif field.null:
            nullable.append(label)
        elif field.related_model is not tenant or field.column != "organization_id":
            wrong_target.append(label)
    assert not missing, f"tables without organization_id (add it, or say why above): {missing}"
    assert not nullable, f"organization_id may be NULL in: {nullable}"
    assert not wrong_target, f"organization is not a foreign key to {TENANT_MODEL} in: {wrong_target}"


def test_the_list_of_exceptions_is_current():
    labels = {model._meta.label for model in _models()}
    stale = set(NOT_TENANT_DATA) - labels
    assert not stale, f"no such model any more: {stale}"
