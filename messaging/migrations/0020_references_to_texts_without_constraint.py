"""The keys that point at a text stop being PostgreSQL foreign keys (docs/ARCHITECTURE.md "Partitioning
texts by month"): once ``messaging_message`` is partitioned by month (0021) its primary key is
``(id, created_at)`` and PostgreSQL cannot reference ``id`` alone. Django still does what
``on_delete`` says (CASCADE, SET_NULL) in Python on ``.delete()``; the retention's partition drop does
it in SQL (``messaging.partitions``)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0019_message_org_to_counted"),
    ]

    operations = [
        migrations.AlterField(
            model_name="messagemedia",
            name="message",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="attachments",
                to="messaging.message",
            ),
        ),
        migrations.AlterField(
            model_name="idempotencykey",
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
            model_name="conversation",
            name="last_message",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="messaging.message",
            ),
        ),
        migrations.AlterField(
            model_name="conversation",
            name="last_inbound",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="messaging.message",
            ),
        ),
    ]
