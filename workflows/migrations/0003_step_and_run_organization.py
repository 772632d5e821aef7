"""Steps and step runs carry their organization (``organization_id``), filled from their parent.

The column a sharded database distributes by (docs/SCALE.md "Past one database"): a step takes its
workflow's, a run its enrollment's. Added empty, filled in SQL that SQLite and PostgreSQL both run
(a correlated subquery through the parent's primary key), then made NOT NULL by 0004: PostgreSQL
refuses to alter a table in the transaction that just updated its rows under a deferred foreign key.
"""

import django.db.models.deletion
from django.db import migrations, models

FILL_STEPS = """
UPDATE interactions_workflowstep SET organization_id = (
    SELECT w.organization_id FROM interactions_workflow w WHERE w.id = interactions_workflowstep.workflow_id
) WHERE organization_id IS NULL
"""
FILL_RUNS = """
UPDATE interactions_steprun SET organization_id = (
    SELECT e.organization_id FROM interactions_enrollment e WHERE e.id = interactions_steprun.enrollment_id
) WHERE organization_id IS NULL
"""


class Migration(migrations.Migration):
    dependencies = [
        ("interactions", "0001_initial"),
        ("workflows", "0002_updated_at_for_sync"),
    ]

    operations = [
        migrations.AddField(
            model_name="workflowstep",
            name="organization",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="interactions.organization",
            ),
        ),
        migrations.AddField(
            model_name="steprun",
            name="organization",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="interactions.organization",
            ),
        ),
        migrations.RunSQL(FILL_STEPS, migrations.RunSQL.noop),
        migrations.RunSQL(FILL_RUNS, migrations.RunSQL.noop),
    ]
