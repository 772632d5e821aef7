"""A text's picture rows carry their organization (``organization_id``), filled from their text.

The column a sharded database distributes by (docs/SCALE.md "Past one database"). Added empty,
filled in SQL that SQLite and PostgreSQL both run (a correlated subquery through the text's primary
key), then made NOT NULL by 0018: PostgreSQL refuses to alter a table in the transaction that just
updated its rows under a deferred foreign key.
"""

import django.db.models.deletion
from django.db import migrations, models

FILL = """
UPDATE messaging_messagemedia SET organization_id = (
    SELECT m.organization_id FROM messaging_message m WHERE m.id = messaging_messagemedia.message_id
) WHERE organization_id IS NULL
"""


class Migration(migrations.Migration):
    dependencies = [
        ("interactions", "0001_initial"),
        ("messaging", "0016_message_media_goes_with_its_text"),
    ]

    operations = [
        migrations.AddField(
            model_name="messagemedia",
            name="organization",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="interactions.organization",
            ),
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
    ]
