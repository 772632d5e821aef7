"""A step run's and a task's text stop being PostgreSQL foreign keys: texts are partitioned by month
(messaging 0021) and PostgreSQL cannot reference their ``id`` alone. SET_NULL is still done by Django
on ``.delete()`` and by the retention's partition drop (``messaging.partitions``)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0004_step_and_run_organization_not_null"),
        ("messaging", "0020_references_to_texts_without_constraint"),
    ]

    operations = [
        migrations.AlterField(
            model_name="steprun",
            name="message",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="messaging.message",
            ),
        ),
        migrations.AlterField(
            model_name="task",
            name="message",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="messaging.message",
            ),
        ),
    ]
