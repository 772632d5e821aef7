"""Every step and step run has its organization now (0003 filled them): the column becomes NOT NULL."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0003_step_and_run_organization"),
    ]

    operations = [
        migrations.AlterField(
            model_name="workflowstep",
            name="organization",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="interactions.organization",
            ),
        ),
        migrations.AlterField(
            model_name="steprun",
            name="organization",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="interactions.organization",
            ),
        ),
    ]
